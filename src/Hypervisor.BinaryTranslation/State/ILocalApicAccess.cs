namespace Hypervisor.BinaryTranslation.State;

/// <summary>
/// This vCPU's local APIC as the CPU core reaches it: the xAPIC MMIO page (routed per vCPU, not through the shared
/// MMIO bus, because every CPU sees its own APIC at the same address), IA32_APIC_BASE, IA32_TSC_DEADLINE and
/// CR8 (= TPR[7:4], Intel SDM Vol. 3, 10.8.6.1). The backend supplies it; without one there is no APIC.
/// </summary>
public interface ILocalApicAccess
{
    /// <summary>IA32_APIC_BASE; the MMIO page is at <c>ApicBase &amp; ~0xFFF</c> while bit 11 (enable) is set.</summary>
    ulong ApicBase { get; }

    /// <summary>Writes IA32_APIC_BASE; false when the value is invalid (reserved bits), which raises #GP.</summary>
    bool SetApicBase(ulong value);

    ulong TscDeadline { get; set; }

    /// <summary>CR8: bits 3:0 are TPR[7:4].</summary>
    ulong Cr8 { get; set; }

    /// <summary>An access to the APIC page; false when the page is not the APIC's (disabled, or moved).</summary>
    bool TryRead(ulong physical, Span<byte> data);

    bool TryWrite(ulong physical, ReadOnlySpan<byte> data);
}
