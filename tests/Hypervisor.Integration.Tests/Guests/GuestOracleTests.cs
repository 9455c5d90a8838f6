namespace Hypervisor.Integration.Tests.Guests;

/// <summary>
/// Each self-checking guest under QEMU TCG: every check it makes (values from the Intel SDM) must pass there,
/// so the guest is right before its output is used as the oracle for hv (TESTING.md section 2).
/// </summary>
public sealed class GuestOracleTests
{
    public const int StatusPassed = (0x21 << 1) | 1;

    public static TheoryData<string> SelfCheckingGuests => new() { "modes", "exceptions", "paging", "timers", "smc", "decode", "tasks", "debug", "smp" };

    [Theory]
    [MemberData(nameof(SelfCheckingGuests))]
    public void GuestPassesItsOwnChecksUnderQemu(string guest)
    {
        var result = GuestRunner.Qemu(guest);
        string serial = GuestRunner.SerialLines(result);
        Assert.DoesNotContain("FAIL ", serial);
        Assert.DoesNotContain("unexpected exception", serial);
        Assert.Contains("hv-testguest: all checks passed\n", serial);
        Assert.True(result.ExitCode == StatusPassed, result.ToString());
    }
}
