using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.Support;

/// <summary>A 4-level page walk (Intel SDM Vol. 3, 4.5) over guest memory, to check boot page tables.</summary>
internal static class PageWalk
{
    public static ulong? Translate(GuestMemory memory, ulong cr3, ulong linear)
    {
        const ulong Present = 1, PageSize = 0x80, AddressMask = 0x000F_FFFF_FFFF_F000;
        ulong table = cr3 & AddressMask;
        for (int level = 4; level >= 1; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong entry = memory.Read<ulong>(table + ((linear >> shift) & 0x1FF) * 8);
            if ((entry & Present) == 0) return null;
            if (level is 2 or 3 && (entry & PageSize) != 0)
            {
                ulong pageMask = (1UL << shift) - 1;
                return (entry & AddressMask & ~pageMask) | (linear & pageMask);
            }
            table = entry & AddressMask;
        }
        return table | (linear & 0xFFF);
    }
}
