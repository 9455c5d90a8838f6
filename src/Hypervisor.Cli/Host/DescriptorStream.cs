using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Hypervisor.Cli.Host;

/// <summary>
/// Write-only, unbuffered stream on a file descriptor that hv does not own (stdout, stderr). Once the reader
/// has gone away (EPIPE: `hv run --help | head -3`), further output is dropped instead of failing the command,
/// as a C program killed by SIGPIPE would print nothing more either.
/// </summary>
public sealed unsafe class DescriptorStream(int fd) : Stream
{
    private bool _readerGone;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            int done = 0;
            while (done < buffer.Length && !_readerGone)
            {
                long written = LibC.write(fd, start + done, (size_t)(buffer.Length - done));
                if (written >= 0)
                {
                    done += (int)written;
                    continue;
                }
                int errno = Marshal.GetLastPInvokeError() is var e && e != 0 ? e : LibC.errno;
                if (errno == LibC.EINTR || errno == LibC.EAGAIN) continue;
                if (errno == LibC.EPIPE)
                {
                    _readerGone = true;
                    return;
                }
                throw new IOException($"writing to descriptor {fd}: {Marshal.GetPInvokeErrorMessage(errno)}");
            }
        }
    }

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
