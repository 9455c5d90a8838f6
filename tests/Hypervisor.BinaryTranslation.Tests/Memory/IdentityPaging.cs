using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;

namespace Hypervisor.BinaryTranslation.Tests.Memory;

/// <summary>
/// Page tables that map the low 4 GiB linear = physical, writable and user-accessible, for test guests that run
/// with CR0.PG = 1 but do not care about paging: 4-level tables with 2 MiB pages in long mode, a 32-bit page
/// directory of 4 MiB pages (CR4.PSE) otherwise. The 4-level tables live in their own RAM region at 4 GiB, outside
/// the mapped range, so guest code cannot overwrite them; the 32-bit directory must lie below 4 GiB and takes the
/// last page of the address space.
/// </summary>
public static class IdentityPaging
{
    public const ulong TablesBase = 0x1_0000_0000;
    public const ulong DirectoryBase = 0xFFFF_F000;
    private const ulong TablesSize = 6 * 0x1000;

    /// <summary>Adds the tables to <paramref name="memory"/> and points CR3 of <paramref name="state"/> at them.</summary>
    public static void Install(GuestMemory memory, CpuState state)
    {
        if ((state.Cr0 & 0x8000_0000) == 0) return;
        const ulong flags = 0x7; // present, writable, user
        if ((state.Efer & 0x400) != 0 || (state.Efer & 0x100) != 0)
        {
            if (memory.Find(TablesBase, TablesSize) == null) memory.AddRam(TablesBase, TablesSize, "identity-page-tables");
            ulong pml4 = TablesBase, pdpt = TablesBase + 0x1000, pd = TablesBase + 0x2000;
            memory.Write(pml4, pdpt | flags);
            for (ulong i = 0; i < 4; i++)
            {
                memory.Write(pdpt + i * 8, (pd + i * 0x1000) | flags);
                for (ulong j = 0; j < 512; j++)
                    memory.Write(pd + i * 0x1000 + j * 8, ((i << 30) | (j << 21)) | flags | 0x80);
            }
            state.Cr4 |= 0x20;
            state.Cr3 = pml4;
        }
        else
        {
            if (memory.Find(DirectoryBase, 0x1000) == null) memory.AddRam(DirectoryBase, 0x1000, "identity-page-directory");
            for (ulong i = 0; i < 1024; i++) memory.Write(DirectoryBase + i * 4, (uint)((i << 22) | flags | 0x80));
            state.Cr4 = (state.Cr4 | 0x10) & ~0x20UL;
            state.Cr3 = DirectoryBase;
        }
    }
}
