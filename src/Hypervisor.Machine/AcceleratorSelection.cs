using Hypervisor.Kvm;
using Hypervisor.Platform.Hypervisor;

namespace Hypervisor.Machine;

/// <summary>Turns --accel into a backend: KVM when /dev/kvm is usable, binary translation otherwise.</summary>
public static class AcceleratorSelection
{
    public static IHypervisor Create(Accelerator requested, TextWriter diagnostics)
    {
        switch (requested)
        {
            case Accelerator.Kvm:
                return KvmHypervisor.Open();
            case Accelerator.Bt:
                return CreateBinaryTranslation();
            default:
                var probe = KvmHypervisor.Probe();
                if (probe.Usable)
                {
                    diagnostics.WriteLine("hv: using KVM (/dev/kvm)");
                    return KvmHypervisor.Open();
                }
                diagnostics.WriteLine($"hv: using binary translation ({probe.Reason})");
                return CreateBinaryTranslation();
        }
    }

    /// <summary>
    /// The BT engine executes instructions (P1.3) but is not yet a whole-system backend (P1.4: modes, paging,
    /// interrupts); until it is, asking for it is an input error, not a crash.
    /// </summary>
    private static IHypervisor CreateBinaryTranslation() =>
        throw new MachineConfigurationException(
            "the binary-translation backend cannot run a whole machine yet (it lacks system emulation); use --accel kvm on a host with /dev/kvm");
}
