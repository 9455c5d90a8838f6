using Hypervisor.Integration.Tests.Support;

namespace Hypervisor.Integration.Tests.Guests;

/// <summary>
/// Runs a multiboot test guest with COM1 on stdout and isa-debug-exit at 0xF4, under QEMU TCG (the oracle) or
/// under hv. The guests print only deterministic lines, so the two serial outputs must be identical.
/// </summary>
public static class GuestRunner
{
    /// <summary>
    /// The QEMU CPU model: qemu64 plus 1 GiB pages, the features the guests look for. A guest checks CPUID
    /// itself before using an optional feature and prints what it skipped, so a model difference shows as a
    /// difference in output, never as a hang.
    /// </summary>
    public const string QemuCpu = "qemu64,+pdpe1gb";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>vCPUs a guest runs with: smp needs a second CPU to wake; the others run on one.</summary>
    public static int CpusFor(string guest) => guest == "smp" ? 2 : 1;

    public static ProcessResult Qemu(string guest) =>
        ProcessRun.Run("qemu-system-x86_64",
        [
            "-accel", "tcg", "-cpu", QemuCpu, "-smp", CpusFor(guest).ToString(), "-m", "64", "-display", "none", "-serial", "stdio", "-monitor", "none",
            "-no-reboot", "-net", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel", TestGuestBuild.PathOf(guest),
        ], Timeout);

    public static ProcessResult HvBt(string guest) =>
        ProcessRun.Run(Path.Combine(Repository.Root, "hv"),
        [
            "run", "--accel", "bt", "--cpus", CpusFor(guest).ToString(), "--memory", "64M", "--serial", "stdio",
            "--no-reboot", "--kernel", TestGuestBuild.PathOf(guest),
        ], Timeout);

    /// <summary>The serial text with line endings normalised, so CR/LF handling of the two VMMs' stdout cannot differ.</summary>
    public static string SerialLines(ProcessResult r) => r.Stdout.Replace("\r", "");

    /// <summary>
    /// The lines QEMU is the oracle for: all but those a guest marks "~ " because they depend on a feature QEMU
    /// TCG lacks (guest-drivers/testguest/lib32.inc); the guest's own verdict still covers those.
    /// </summary>
    public static string OracleLines(ProcessResult r) =>
        string.Join('\n', SerialLines(r).Split('\n').Where(line => !line.StartsWith("~ ", StringComparison.Ordinal)));
}
