namespace Hypervisor.BinaryTranslation.Memory;

/// <summary>Control-register and paging-structure bits the MMU reads (Intel SDM Vol. 3, 2.5 and 4.3-4.5).</summary>
public static class PagingBits
{
    public const ulong Cr0Wp = 1UL << 16;
    public const ulong Cr0Pg = 1UL << 31;

    public const ulong Cr4Pse = 1UL << 4;
    public const ulong Cr4Pae = 1UL << 5;
    public const ulong Cr4Pge = 1UL << 7;
    public const ulong Cr4Smep = 1UL << 20;

    public const ulong EferLme = 1UL << 8;
    public const ulong EferLma = 1UL << 10;
    public const ulong EferNxe = 1UL << 11;

    // Paging-structure entry bits (all modes).
    public const ulong Present = 1UL << 0;
    public const ulong ReadWrite = 1UL << 1;
    public const ulong UserSupervisor = 1UL << 2;
    public const ulong Accessed = 1UL << 5;
    public const ulong Dirty = 1UL << 6;
    public const ulong PageSize = 1UL << 7;
    public const ulong Global = 1UL << 8;
    public const ulong ExecuteDisable = 1UL << 63;

    /// <summary>PAE PDPTE bits that must be 0 besides those above MAXPHYADDR: 2:1 and 8:5 (Table 4-8).</summary>
    public const ulong PaePdpteReserved = 0x1E6;

    /// <summary>CPUID.80000001H:EDX bit 26: 1-GByte pages.</summary>
    public const uint CpuidPage1Gb = 1u << 26;
}
