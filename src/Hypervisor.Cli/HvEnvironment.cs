using System.Text;
using Hypervisor.Cli.Host;
using Hypervisor.Kvm;
using Hypervisor.Machine;

namespace Hypervisor.Cli;

/// <summary>Runs a validated machine and returns the process exit status (see <see cref="MachineLauncher"/>).</summary>
public delegate int MachineRunner(MachineConfig config, TextWriter diagnostics);

/// <summary>
/// What the hv command touches outside its arguments: its output streams, the host facts it validates
/// against, and the machine it starts. Tests replace the parts they need to observe.
/// </summary>
public sealed record HvEnvironment
{
    public required TextWriter Output { get; init; }
    public required TextWriter Error { get; init; }
    public required MachineRunner RunMachine { get; init; }
    public Func<ulong?> HostMemoryTotal { get; init; } = () => HostMemory.ReadTotal();
    public Func<KvmProbeResult> ProbeKvm { get; init; } = () => KvmHypervisor.Probe();

    public static HvEnvironment Process() => new()
    {
        Output = OpenUnbuffered(1),
        Error = OpenUnbuffered(2),
        RunMachine = MachineLauncher.Run,
    };

    /// <summary>
    /// A writer straight on a descriptor. System.Console would do, except that its first write on a terminal
    /// switches the terminal to keypad-transmit mode, and the guest would then get other bytes for the cursor
    /// keys than it expects from a serial line.
    /// </summary>
    private static TextWriter OpenUnbuffered(int fd) =>
        new StreamWriter(new DescriptorStream(fd), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)) { AutoFlush = true };
}
