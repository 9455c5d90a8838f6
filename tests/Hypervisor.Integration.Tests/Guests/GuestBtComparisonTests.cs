namespace Hypervisor.Integration.Tests.Guests;

/// <summary>
/// Each test guest under hv's BT backend must print exactly what it prints under QEMU TCG and exit with the
/// same status (TESTING.md section 2): mode switches, paging, exceptions, timers and self-modifying code.
/// </summary>
public sealed class GuestBtComparisonTests
{
    public static TheoryData<string> Guests => new() { "hello", "modes", "exceptions", "paging", "timers", "smc", "decode", "tasks", "debug", "smp" };

    [Theory]
    [MemberData(nameof(Guests))]
    public void GuestBehavesUnderBtAsUnderQemu(string guest)
    {
        var qemu = GuestRunner.Qemu(guest);
        var hv = GuestRunner.HvBt(guest);
        Assert.Equal(GuestRunner.OracleLines(qemu), GuestRunner.OracleLines(hv));
        Assert.True(qemu.ExitCode == hv.ExitCode, $"qemu exit {qemu.ExitCode}, hv: {hv}");
    }
}
