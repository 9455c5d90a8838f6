using Hypervisor.Platform.Time;

namespace Hypervisor.Platform.Interrupts;

/// <summary>
/// The machine's interrupt controllers in userspace (PIC, IOAPIC, one local APIC per vCPU), as a CPU backend
/// without an in-kernel irqchip sees them: devices raise interrupts through the <see cref="IInterruptController"/>
/// side, and each software CPU takes them from its own <see cref="ICpuInterruptPort"/>. Backends reference this
/// contract, never the devices that implement it (ARCHITECTURE.md: backends do not reference Devices).
/// </summary>
public interface IUserspaceIrqChip : IInterruptController
{
    int VcpuCount { get; }

    /// <summary>
    /// The guest time-stamp counter every LAPIC's TSC-deadline timer compares with; the software CPU's RDTSC and
    /// IA32_TSC must read and write this one counter so the two agree.
    /// </summary>
    GuestTsc Tsc { get; }

    /// <summary>The interrupt inputs of vCPU <paramref name="vcpu"/> (its LAPIC, and the PIC through it).</summary>
    ICpuInterruptPort PortFor(int vcpu);
}
