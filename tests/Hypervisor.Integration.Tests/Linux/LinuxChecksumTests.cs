using Hypervisor.Integration.Tests.Support;

namespace Hypervisor.Integration.Tests.Linux;

/// <summary>
/// The default Linux guest (images/out, built by images/build.sh) computes md5 and gzip of its busybox, and
/// tests/bt/linux-checksum.sh compares them with the same busybox run on the host. Under QEMU this checks the
/// guest script and the host-side comparison themselves, so a failure under hv points at hv.
/// </summary>
public sealed class LinuxChecksumTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    [Fact]
    public void LinuxUnderQemuChecksumsBusyboxLikeTheHost()
    {
        var result = RunScript("qemu");
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("linux-checksum (qemu): PASS", result.Stdout);
    }

    internal static ProcessResult RunScript(string vmm) =>
        ProcessRun.Run("bash", [Path.Combine(Repository.Root, "tests", "bt", "linux-checksum.sh"), vmm], Timeout);
}
