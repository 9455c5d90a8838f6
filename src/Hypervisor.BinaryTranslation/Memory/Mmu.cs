using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Memory;

/// <summary>
/// Linear-to-physical translation, called only on a software-TLB miss and for instruction fetches that miss the
/// block jump cache. This base class is the MMU with paging disabled (CR0.PG = 0: physical = linear, through the
/// A20 gate); <see cref="PagingMmu"/> adds the page walk. Translations are per page: the TLB caches the result for
/// the whole 4 KiB page, so an override must answer for the page, not the byte.
/// </summary>
public class Mmu
{
    /// <summary>
    /// Translates one linear address for an access by <paramref name="user"/> (CPL 3 and not an implicit
    /// supervisor access). Returns false with a fault raised on <paramref name="cpu"/> when the access is not allowed.
    /// </summary>
    public virtual bool Translate(CpuContext cpu, ulong linear, AccessType access, bool user, out Translation result)
    {
        result = default;
        if (!IsCanonical(cpu, linear)) return cpu.Fault(Vectors.GeneralProtection, 0);
        result.Physical = linear & cpu.Memory.A20Mask;
        result.Rights = PageRights.Writable | PageRights.Dirty;
        result.PageShift = 12;
        return true;
    }

    /// <summary>
    /// In 64-bit mode a non-canonical linear address raises #GP(0) (Intel SDM Vol. 3, 3.3.7.1); the TLB never holds
    /// such a tag, so every non-canonical access reaches this check.
    /// </summary>
    protected static bool IsCanonical(CpuContext cpu, ulong linear) =>
        cpu.Mode != CpuMode.Long64 || (ulong)((long)(linear << 16) >> 16) == linear;
}
