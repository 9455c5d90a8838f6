using Hypervisor.Integration.Tests.Support;

namespace Hypervisor.Integration.Tests.Linux;

/// <summary>
/// Runs a tests/bt/linux-*.sh script, which boots the default Linux guest (images/out, built by images/build.sh)
/// under hv or QEMU and compares what the guest computed with the host's own answer.
/// </summary>
public static class LinuxScripts
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    public static ProcessResult Run(string script, string vmm) =>
        ProcessRun.Run("bash", [Path.Combine(Repository.Root, "tests", "bt", script), vmm], Timeout);
}
