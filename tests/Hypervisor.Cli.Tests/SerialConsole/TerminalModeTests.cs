using Hypervisor.Cli.SerialConsole;
using Tmds.Linux;

namespace Hypervisor.Cli.Tests.SerialConsole;

public unsafe class TerminalModeTests
{
    [Fact]
    public void Raw_mode_sends_every_key_to_the_guest_but_keeps_output_processing()
    {
        termios cooked = default;
        cooked.c_iflag = LibC.ICRNL | LibC.IXON | LibC.BRKINT;
        cooked.c_oflag = 0;
        cooked.c_lflag = LibC.ECHO | LibC.ICANON | LibC.ISIG | LibC.IEXTEN | LibC.ECHOE;
        cooked.c_cflag = LibC.PARENB;

        termios raw = TerminalMode.MakeRaw(cooked);

        Assert.Equal(0u, raw.c_iflag & (LibC.ICRNL | LibC.IXON | LibC.BRKINT));
        Assert.Equal(0u, raw.c_lflag & (LibC.ECHO | LibC.ICANON | LibC.ISIG | LibC.IEXTEN));
        Assert.Equal(LibC.ECHOE, raw.c_lflag & LibC.ECHOE); // flags raw mode does not care about are left alone
        Assert.Equal(LibC.OPOST, raw.c_oflag & LibC.OPOST);
        Assert.Equal(LibC.CS8, raw.c_cflag & LibC.CSIZE);
        Assert.Equal(0u, raw.c_cflag & LibC.PARENB);
        Assert.Equal(1, raw.c_cc[LibC.VMIN]);
        Assert.Equal(0, raw.c_cc[LibC.VTIME]);
    }

    [Fact]
    public void A_pipe_is_not_a_terminal_and_stays_untouched()
    {
        int* fds = stackalloc int[2];
        Assert.Equal(0, LibC.pipe(fds));
        try
        {
            Assert.False(TerminalMode.IsTerminal(fds[0]));
            Assert.Null(TerminalMode.EnterRaw(fds[0]));
        }
        finally
        {
            LibC.close(fds[0]);
            LibC.close(fds[1]);
        }
    }
}

public unsafe class TerminalModeOnAPtyTests
{
    [Fact]
    public void Enter_raw_then_restore_puts_the_original_settings_back()
    {
        using var pty = new PseudoTerminal();
        termios before = pty.SlaveSettings;
        Assert.NotEqual(0u, before.c_lflag & LibC.ICANON); // a fresh pty starts cooked

        TerminalMode mode = TerminalMode.EnterRaw(pty.Slave) ?? throw new Xunit.Sdk.XunitException("a pty is a terminal");
        termios raw = pty.SlaveSettings;
        Assert.Equal(0u, raw.c_lflag & (LibC.ICANON | LibC.ECHO | LibC.ISIG));
        Assert.Equal(0u, raw.c_iflag & LibC.ICRNL);

        mode.Restore();
        mode.Restore(); // idempotent: signal handler, process exit and Dispose may all call it
        termios after = pty.SlaveSettings;
        Assert.Equal(before.c_lflag, after.c_lflag);
        Assert.Equal(before.c_iflag, after.c_iflag);
        Assert.Equal(before.c_oflag, after.c_oflag);
        Assert.Equal(before.c_cflag, after.c_cflag);
    }
}
