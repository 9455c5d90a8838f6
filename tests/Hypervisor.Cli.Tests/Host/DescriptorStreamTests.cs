using System.Text;
using Hypervisor.Cli.Host;
using Tmds.Linux;

namespace Hypervisor.Cli.Tests.Host;

public unsafe class DescriptorStreamTests
{
    [Fact]
    public void Writes_reach_the_descriptor_and_a_closed_reader_is_not_an_error()
    {
        int* fds = stackalloc int[2];
        Assert.Equal(0, LibC.pipe2(fds, LibC.O_CLOEXEC));
        int read = fds[0], write = fds[1];
        try
        {
            using var writer = new StreamWriter(new DescriptorStream(write), new UTF8Encoding(false)) { AutoFlush = true };
            writer.Write("help text");
            byte[] buffer = new byte[32];
            long n;
            fixed (byte* p = buffer)
                n = LibC.read(read, p, (size_t)buffer.Length);
            Assert.Equal("help text", Encoding.UTF8.GetString(buffer, 0, (int)n));

            LibC.close(read);
            read = -1;
            writer.Write("nobody reads this"); // EPIPE: dropped, as `hv run --help | head -1` needs
            writer.Write("nor this");
        }
        finally
        {
            if (read >= 0) LibC.close(read);
            LibC.close(write);
        }
    }
}
