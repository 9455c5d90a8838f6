using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Memory;

/// <summary>
/// Linear-to-physical translation, called only on a software-TLB miss. This base class is the MMU with paging
/// disabled (CR0.PG = 0: linear = physical); P1.4's paging MMU overrides <see cref="Translate"/> with the walk
/// (legacy, PAE, 4-level) and reports #PF through <see cref="CpuContext.PageFault"/>. Translations are per page:
/// the TLB caches the result for the whole 4 KiB page, so an override must answer for the page, not the byte.
/// </summary>
public class Mmu
{
    /// <summary>
    /// Translates one linear address. Returns false with a fault raised on <paramref name="cpu"/> when the
    /// access is not allowed.
    /// </summary>
    public virtual bool Translate(CpuContext cpu, ulong linear, AccessType access, out ulong physical)
    {
        // In 64-bit mode a non-canonical linear address raises #GP(0) (Intel SDM Vol. 3, 3.3.7.1); the TLB
        // never holds such a tag, so every non-canonical access reaches this check.
        if (cpu.Mode == CpuMode.Long64 && (ulong)((long)(linear << 16) >> 16) != linear)
        {
            physical = 0;
            return cpu.Fault(Vectors.GeneralProtection, 0);
        }
        physical = linear;
        return true;
    }
}
