using System.Text;
using Tmds.Linux;

namespace Hypervisor.Cli.Tests.SerialConsole;

/// <summary>A pty pair from /dev/ptmx, so raw mode and the Ctrl-A escapes can be tested on a real terminal.</summary>
public sealed unsafe class PseudoTerminal : IDisposable
{
    // <asm-generic/ioctls.h>: TIOCGPTN = _IOR('T', 0x30, unsigned int), TIOCSPTLCK = _IOW('T', 0x31, int).
    private const int TiocGptn = unchecked((int)0x80045430);
    private const int TiocSptlck = 0x40045431;

    public PseudoTerminal()
    {
        Master = Open("/dev/ptmx");
        int unlock = 0;
        uint number;
        if (LibC.ioctl(Master, TiocSptlck, &unlock) != 0 || LibC.ioctl(Master, TiocGptn, &number) != 0)
            throw new IOException("cannot unlock the pty");
        Slave = Open($"/dev/pts/{number}");
    }

    public int Master { get; }
    public int Slave { get; }

    public termios SlaveSettings
    {
        get
        {
            termios settings;
            if (LibC.tcgetattr(Slave, &settings) != 0) throw new IOException("tcgetattr failed");
            return settings;
        }
    }

    public void Type(ReadOnlySpan<byte> keys)
    {
        fixed (byte* p = keys)
            if ((long)LibC.write(Master, p, (size_t)keys.Length) != keys.Length)
                throw new IOException("write to the pty master failed");
    }

    private static int Open(string path)
    {
        byte[] name = Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = name)
        {
            int fd = LibC.open(p, LibC.O_RDWR | LibC.O_NOCTTY | LibC.O_CLOEXEC, 0);
            return fd >= 0 ? fd : throw new IOException($"cannot open {path}");
        }
    }

    public void Dispose()
    {
        LibC.close(Slave);
        LibC.close(Master);
    }
}
