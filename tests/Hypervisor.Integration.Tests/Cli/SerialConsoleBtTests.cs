using Hypervisor.Integration.Tests.Support;

namespace Hypervisor.Integration.Tests.Cli;

/// <summary>
/// The interactive serial console of `./hv demo` end to end under BT (tests/cli/serial-console.sh): commands piped
/// into hv before the guest has booted must all reach the busybox shell (the 16550A holds them until Linux's driver
/// raises RTS, instead of losing them to its FIFO resets), and keys typed on a pseudo-terminal in raw mode reach the
/// guest one at a time, with Ctrl-A h answered by hv and the terminal restored on exit.
/// </summary>
public sealed class SerialConsoleBtTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(15);

    [Theory]
    [InlineData("pipe-early")]
    [InlineData("pty")]
    public void ConsoleCarriesInputToTheGuestShell(string mode)
    {
        var result = ProcessRun.Run("bash",
            [Path.Combine(Repository.Root, "tests", "cli", "serial-console.sh"), "--modes", mode, "--accel", "bt"], Timeout);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"PASS {mode}:", result.Stdout);
        Assert.Contains("serial-console: 1 passed, 0 failed", result.Stdout);
    }
}
