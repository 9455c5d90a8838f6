namespace Hypervisor.Integration.Tests.Linux;

/// <summary>
/// The Linux guest scripts under QEMU TCG: checks the guest-side test scripts and the host-side comparisons
/// themselves, so that the same script failing under hv points at hv.
/// </summary>
public sealed class LinuxQemuTests
{
    /// <summary>md5 and gzip of the initramfs's busybox, computed in the guest, equal the host's.</summary>
    [Fact]
    public void ChecksumsBusyboxLikeTheHost()
    {
        var result = LinuxScripts.Run("linux-checksum.sh", "qemu");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("linux-checksum (qemu): PASS", result.Stdout);
    }

    /// <summary>Modules load, the virtio-blk data disk mounts and its known file reads back.</summary>
    [Fact]
    public void SmokeTestPassesWithTheDataDisk()
    {
        var result = LinuxScripts.Run("linux-smoke.sh", "qemu");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("linux-smoke (qemu): PASS", result.Stdout);
    }
}
