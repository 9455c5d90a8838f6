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

    [Fact]
    public void Input_beyond_the_hold_waits_unread_until_the_device_attaches_and_none_is_lost()
    {
        using var backend = Track(new StdioCharacterBackend(_inputRead, _outputWrite, () => { }));
        // A script piped into hv before the machine is up: more than the backend keeps in memory.
        byte[] script = new byte[5 * StdioCharacterBackend.MaxHeldInput];
        for (int i = 0; i < script.Length; i++) script[i] = (byte)('a' + i % 26);
        WriteAll(_inputWrite, script); // fits in the pipe's 64 KiB
        Thread.Sleep(200);

        var received = new BlockingCollection<byte>();
        backend.SetReceiver(data =>
        {
            foreach (byte b in data) received.Add(b);
        });
        Assert.Equal(script, Take(received, script.Length));
    }

    [Fact]
    public void Disposing_while_input_waits_for_the_device_ends_the_input_thread()
    {
        var backend = Track(new StdioCharacterBackend(_inputRead, _outputWrite, () => { }));
        WriteAll(_inputWrite, new byte[2 * StdioCharacterBackend.MaxHeldInput]);
        Thread.Sleep(200);
        backend.Dispose();
        Assert.True(backend.WaitForEndOfInput(TimeSpan.FromSeconds(10)));
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

/// <summary>The stdio console on a pseudo terminal: raw mode and the Ctrl-A escapes.</summary>
public sealed unsafe class StdioCharacterBackendOnAPtyTests
{
    [Fact]
    public void Keys_reach_the_guest_raw_and_ctrl_a_x_quits_with_the_terminal_restored()
    {
        using var pty = new PseudoTerminal();
        uint cookedFlags = pty.SlaveSettings.c_lflag;
        using var quit = new ManualResetEventSlim();
        var received = new BlockingCollection<byte>();

        using var backend = new StdioCharacterBackend(pty.Slave, pty.Slave, quit.Set);
        Assert.True(backend.IsInteractive);
        Assert.Equal(0u, pty.SlaveSettings.c_lflag & LibC.ICANON);
        backend.SetReceiver(data =>
        {
            foreach (byte b in data) received.Add(b);
        });

        // Ctrl-C and a carriage return arrive as typed: no signal, no CR-to-NL translation, no line buffering.
        pty.Type("ls\x03\r\x01\x01"u8);
        byte[] keys = new byte[5];
        for (int i = 0; i < keys.Length; i++)
            Assert.True(received.TryTake(out keys[i], TimeSpan.FromSeconds(10)));
        Assert.Equal("ls\x03\r\x01"u8.ToArray(), keys);

        pty.Type("\x01x"u8);
        Assert.True(quit.Wait(TimeSpan.FromSeconds(10)), "Ctrl-A x did not quit");
        Assert.True(backend.WaitForEndOfInput(TimeSpan.FromSeconds(10)));
        Assert.Equal(cookedFlags, pty.SlaveSettings.c_lflag);
    }
}
