using Hypervisor.Platform.Cpu;

namespace Hypervisor.Platform.Interrupts;

/// <summary>
/// The parts of one vCPU's local APIC (Intel SDM Vol. 3A chapter 11) the CPU core itself reaches: the xAPIC
/// register page (each CPU sees its own APIC at the same address, so the page is routed per vCPU, not through
/// the shared MMIO bus), IA32_APIC_BASE, IA32_TSC_DEADLINE, CR8 (TPR[7:4]) and save/restore to
/// <see cref="CpuState"/>. Safe to call from the vCPU thread while devices raise interrupts on others.
/// </summary>
public interface ILocalApic
{
    /// <summary>IA32_APIC_BASE as RDMSR returns it.</summary>
    ulong ApicBase { get; }

    /// <summary>WRMSR IA32_APIC_BASE; false for a value the CPU answers with #GP (reserved bits, x2APIC).</summary>
    bool TryWriteApicBase(ulong value);

    /// <summary>IA32_TSC_DEADLINE as RDMSR returns it (0 unless the timer is in TSC-deadline mode and armed).</summary>
    ulong TscDeadline { get; }

    /// <summary>WRMSR IA32_TSC_DEADLINE.</summary>
    void WriteTscDeadline(ulong value);

    /// <summary>CR8: bits 3:0 are TPR[7:4] (SDM 10.8.6.1).</summary>
    ulong Cr8 { get; set; }

    /// <summary>A read by the owning CPU at a guest-physical address; false (nothing done) outside the enabled APIC page.</summary>
    bool TryRead(ulong address, Span<byte> data);

    /// <summary>The write counterpart of <see cref="TryRead"/>.</summary>
    bool TryWrite(ulong address, ReadOnlySpan<byte> data);

    /// <summary>Writes the register page (KVM_GET_LAPIC layout), IA32_APIC_BASE, TSC deadline and SIPI state into the state.</summary>
    void SaveState(CpuState state);

    /// <summary>Loads what <see cref="SaveState"/> (or the KVM backend) produced.</summary>
    void RestoreState(CpuState state);
}
