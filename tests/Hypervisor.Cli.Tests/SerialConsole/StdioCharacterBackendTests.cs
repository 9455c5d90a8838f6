using System.Collections.Concurrent;
using Hypervisor.Cli.SerialConsole;
using Tmds.Linux;

namespace Hypervisor.Cli.Tests.SerialConsole;

/// <summary>The stdio console on pipes instead of the process's stdin/stdout.</summary>
public unsafe class StdioCharacterBackendTests : IDisposable
{
    private readonly int _inputRead, _inputWrite, _outputRead, _outputWrite;
    private StdioCharacterBackend? _backend;

    public StdioCharacterBackendTests()
    {
        int* fds = stackalloc int[2];
        Assert.Equal(0, LibC.pipe2(fds, LibC.O_CLOEXEC));
        (_inputRead, _inputWrite) = (fds[0], fds[1]);
        Assert.Equal(0, LibC.pipe2(fds, LibC.O_CLOEXEC));
        (_outputRead, _outputWrite) = (fds[0], fds[1]);
    }

    [Fact]
    public void Guest_output_reaches_the_output_descriptor()
    {
        using var backend = Track(new StdioCharacterBackend(_inputRead, _outputWrite, () => { }));
        Assert.False(backend.IsInteractive);
        backend.Write("login: "u8);
        Assert.Equal("login: "u8.ToArray(), ReadExactly(_outputRead, 7));
    }

    [Fact]
    public void Host_input_reaches_the_receiver_unchanged_when_not_a_terminal()
    {
        using var backend = Track(new StdioCharacterBackend(_inputRead, _outputWrite, () => Assert.Fail("no escapes on a pipe")));
        var received = new BlockingCollection<byte>();
        backend.SetReceiver(data =>
        {
            foreach (byte b in data) received.Add(b);
        });

        WriteAll(_inputWrite, "echo \x01x\n"u8);

        Assert.Equal("echo \x01x\n"u8.ToArray(), Take(received, 8));
    }

    [Fact]
    public void Input_before_the_device_attaches_is_held_and_delivered_on_attach()
    {
        using var backend = Track(new StdioCharacterBackend(_inputRead, _outputWrite, () => { }));
        WriteAll(_inputWrite, "early"u8);
        Thread.Sleep(200); // let the reader thread pick the bytes up while nothing is attached

        var received = new BlockingCollection<byte>();
        backend.SetReceiver(data =>
        {
            foreach (byte b in data) received.Add(b);
        });
        Assert.Equal("early"u8.ToArray(), Take(received, 5));
    }

    private StdioCharacterBackend Track(StdioCharacterBackend backend) => _backend = backend;

    private static byte[] Take(BlockingCollection<byte> received, int count)
    {
        var bytes = new List<byte>();
        while (bytes.Count < count)
        {
            Assert.True(received.TryTake(out byte b, TimeSpan.FromSeconds(10)), $"only {bytes.Count} of {count} bytes arrived");
            bytes.Add(b);
        }
        return [.. bytes];
    }

    private static void WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
            Assert.Equal(data.Length, (long)LibC.write(fd, p, (size_t)data.Length));
    }

    private static byte[] ReadExactly(int fd, int count)
    {
        byte[] buffer = new byte[count];
        int done = 0;
        fixed (byte* p = buffer)
        {
            while (done < count)
            {
                long n = LibC.read(fd, p + done, (size_t)(count - done));
                Assert.True(n > 0);
                done += (int)n;
            }
        }
        return buffer;
    }

    public void Dispose()
    {
        // Closing the write end ends the backend's reader thread with end of input; only then may the read end
        // close, or the thread could read from whatever file reuses the descriptor number.
        LibC.close(_inputWrite);
        Assert.True(_backend?.WaitForEndOfInput(TimeSpan.FromSeconds(10)) ?? true);
        LibC.close(_outputRead);
        LibC.close(_outputWrite);
        LibC.close(_inputRead);
    }
}
