using Hypervisor.Integration.Tests.Support;

namespace Hypervisor.Integration.Tests.Virtio;

/// <summary>
/// The virtio acceptance of tests/virtio/run.sh with the Linux guest under hv's BT backend: an ext4 --disk mounted,
/// read and written (then e2fsck -fn and debugfs on the host), /dev/hwrng, a second console port both ways, two hv
/// processes on one VM-to-VM link pinging each other, and a guest reaching a host address through TAP in a network
/// namespace the script creates.
/// </summary>
public sealed class VirtioBtTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(15);

    private static ProcessResult RunAcceptance(string test) =>
        ProcessRun.Run("bash", [Path.Combine(Repository.Root, "tests", "virtio", "run.sh"), test], Timeout,
            new Dictionary<string, string> { ["HV_ACCEL"] = "bt" });

    [Fact]
    public void DiskHwrngAndConsolePortWork()
    {
        var result = RunAcceptance("disk");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("ok debugfs /newfile intact", result.Stdout);
        Assert.Contains("ok console port both ways", result.Stdout);
    }

    [Fact]
    public void TwoGuestsOnAVmLinkPingEachOther()
    {
        var result = RunAcceptance("vmlink");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("ok vmlink guests ping each other", result.Stdout);
    }

    [Fact]
    public void GuestReachesTheHostThroughTap()
    {
        var result = RunAcceptance("tap");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("ok tap guest reaches", result.Stdout);
    }
}
