using Hypervisor.BinaryTranslation.Backend;
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

    private static IHypervisor CreateBinaryTranslation() => new BtHypervisor();
}
