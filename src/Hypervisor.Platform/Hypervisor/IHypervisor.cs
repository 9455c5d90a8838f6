using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;
using Hypervisor.Platform.Time;

namespace Hypervisor.Platform.Hypervisor;

/// <summary>
/// A CPU virtualization backend (KVM or binary translation). The model is cloud-hypervisor's
/// <c>hypervisor</c> crate: one Hypervisor/Vm/Vcpu interface, one folder per backend.
/// </summary>
public interface IHypervisor : IDisposable
{
    /// <summary>"kvm" or "bt", as the <c>--accel</c> option names it.</summary>
    string Name { get; }

    /// <summary>
    /// True when the backend emulates PIC, IOAPIC, LAPIC and PIT itself (KVM's in-kernel irqchip); the machine
    /// then does not put its userspace ones on the buses.
    /// </summary>
    bool HasInKernelIrqChip { get; }

    IVm CreateVm(VmSetup setup);
}

/// <summary>What a backend needs to build a VM.</summary>
/// <param name="Memory">Guest RAM and ROM, registered with the backend as they are.</param>
/// <param name="Io">Where port and MMIO accesses that are not RAM go.</param>
/// <param name="CpuCount">Number of vCPUs the machine will create.</param>
/// <param name="Clock">Guest time for the backend's timers (TSC, LAPIC timer under BT).</param>
/// <param name="UserspaceIrqChip">
/// The machine's interrupt controllers (PIC, IOAPIC, LAPICs), for backends without an in-kernel irqchip, which
/// take their vCPUs' interrupts from its ports; null otherwise.
/// </param>
public sealed record VmSetup(
    GuestMemory Memory,
    IIoHandler Io,
    int CpuCount,
    VirtualClock Clock,
    IUserspaceIrqChip? UserspaceIrqChip = null);

public interface IVm : IDisposable
{
    /// <summary>Where devices raise their interrupts on this VM.</summary>
    IInterruptController Interrupts { get; }

    IVcpu CreateVcpu(int index);
}
