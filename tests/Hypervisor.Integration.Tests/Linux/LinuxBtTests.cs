namespace Hypervisor.Integration.Tests.Linux;

/// <summary>
/// The default Linux guest under hv's BT backend: it boots, computes what the host computes, reads its virtio
/// disk, powers off, and hv exits 0 (tests/bt/linux-*.sh hv).
/// </summary>
public sealed class LinuxBtTests
{
    [Fact]
    public void ChecksumsBusyboxLikeTheHost()
    {
        var result = LinuxScripts.Run("linux-checksum.sh", "hv");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("linux-checksum (hv): PASS", result.Stdout);
    }

    [Fact]
    public void SmokeTestPassesWithTheDataDisk()
    {
        var result = LinuxScripts.Run("linux-smoke.sh", "hv");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("linux-smoke (hv): PASS", result.Stdout);
    }
}
