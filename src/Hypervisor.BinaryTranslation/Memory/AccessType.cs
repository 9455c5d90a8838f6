namespace Hypervisor.BinaryTranslation.Memory;

/// <summary>What an access does, for translation and for the #PF error code (Intel SDM Vol. 3, 4.7).</summary>
public enum AccessType : byte
{
    Read,
    Write,
    Execute,
}

/// <summary>What a translation allows beyond the access that made it, so the TLB can cache the right rights.</summary>
[Flags]
public enum PageRights : byte
{
    None = 0,

    /// <summary>A write by the same requester (user or supervisor, under the current CR0.WP) would be allowed.</summary>
    Writable = 1,

    /// <summary>The dirty flag of the entry that maps the page is set, so a write needs no page-table update.</summary>
    Dirty = 2,

    /// <summary>The translation is global (G = 1 with CR4.PGE = 1): MOV CR3 keeps it (Intel SDM Vol. 3, 4.10.2.4).</summary>
    Global = 4,
}

/// <summary>The result of a translation: the physical address and what the TLB may cache about its page.</summary>
public struct Translation
{
    public ulong Physical;
    public PageRights Rights;

    /// <summary>log2 of the page size the translation came from: 12, 21 (2 MiB), 22 (4 MiB) or 30 (1 GiB).</summary>
    public byte PageShift;
}

/// <summary>Page-fault error code bits (Intel SDM Vol. 3, Figure 4-12; AMD APM Vol. 2, 8.4.2).</summary>
public static class PageFaultError
{
    /// <summary>0: a not-present page; 1: a protection violation (or a reserved bit).</summary>
    public const uint Present = 1;

    public const uint Write = 2;

    /// <summary>A user-mode access (CPL 3 and not an implicit supervisor access).</summary>
    public const uint User = 4;

    /// <summary>A reserved bit was set in some paging-structure entry.</summary>
    public const uint Reserved = 8;

    /// <summary>An instruction fetch (reported only with CR4.SMEP or with PAE/4-level paging and EFER.NXE).</summary>
    public const uint InstructionFetch = 16;
}
