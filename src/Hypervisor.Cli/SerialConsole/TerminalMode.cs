using Tmds.Linux;

namespace Hypervisor.Cli.SerialConsole;

/// <summary>
/// Puts a terminal into the raw mode a serial console needs (every key, Ctrl-C included, goes to the guest
/// byte by byte, no local echo) and puts back the settings it found. Restoring is idempotent and safe to call
/// from a signal handler's thread, process exit and Dispose alike.
/// </summary>
public sealed unsafe class TerminalMode : IDisposable
{
    private readonly int _fd;
    private readonly termios _saved;
    private int _restored;

    private TerminalMode(int fd, termios saved)
    {
        _fd = fd;
        _saved = saved;
    }

    public static bool IsTerminal(int fd) => LibC.isatty(fd) == 1;

    /// <summary>Switches <paramref name="fd"/> to raw mode; null when it is not a terminal.</summary>
    public static TerminalMode? EnterRaw(int fd)
    {
        if (!IsTerminal(fd)) return null;
        termios saved;
        if (LibC.tcgetattr(fd, &saved) != 0) return null;

        termios raw = MakeRaw(saved);
        if (LibC.tcsetattr(fd, (int)LibC.TCSAFLUSH, &raw) != 0) return null;
        return new TerminalMode(fd, saved);
    }

    /// <summary>
    /// QEMU's stdio raw mode (chardev/char-stdio.c): no input translation or flow control, no echo, no line
    /// editing, no signal keys, 8-bit characters, one byte per read. Output post-processing stays on so "\n"
    /// from hv's own messages still returns the carriage.
    /// </summary>
    public static termios MakeRaw(termios settings)
    {
        settings.c_iflag &= ~(LibC.IGNBRK | LibC.BRKINT | LibC.PARMRK | LibC.ISTRIP | LibC.INLCR | LibC.IGNCR | LibC.ICRNL | LibC.IXON);
        settings.c_oflag |= LibC.OPOST;
        settings.c_lflag &= ~(LibC.ECHO | LibC.ECHONL | LibC.ICANON | LibC.IEXTEN | LibC.ISIG);
        settings.c_cflag &= ~(LibC.CSIZE | LibC.PARENB);
        settings.c_cflag |= LibC.CS8;
        settings.c_cc[LibC.VMIN] = 1;
        settings.c_cc[LibC.VTIME] = 0;
        return settings;
    }

    public void Restore()
    {
        if (Interlocked.Exchange(ref _restored, 1) != 0) return;
        termios saved = _saved;
        LibC.tcsetattr(_fd, (int)LibC.TCSANOW, &saved);
    }

    public void Dispose() => Restore();
}
