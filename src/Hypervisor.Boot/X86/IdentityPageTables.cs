using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.X86;

/// <summary>
/// 4-level page tables that map the first 4 GiB one to one with 2 MiB pages, for entering a kernel in long mode.
/// 2 MiB pages are part of every long-mode CPU (1 GiB pages are not), and 4 GiB covers the kernel, boot_params,
/// the command line and the MMIO hole that the 64-bit boot protocol asks to be identity mapped.
/// </summary>
public static class IdentityPageTables
{
    public const ulong MappedBytes = 4UL << 30;

    private const ulong Present = 1, Writable = 2, PageSize = 0x80;
    private const int Entries = 512;
    private const int DirectoryCount = (int)(MappedBytes >> 30);

    /// <summary>Builds the tables at <see cref="BootMemoryLayout.PageTables"/> and returns the value for CR3.</summary>
    public static ulong Build(GuestMemory memory)
    {
        ulong pml4 = BootMemoryLayout.PageTables;
        ulong pdpt = pml4 + 0x1000;
        ulong firstDirectory = pdpt + 0x1000;
        var table = new ulong[Entries];

        table[0] = pdpt | Present | Writable;
        Store(memory, pml4, table);

        Array.Clear(table);
        for (int i = 0; i < DirectoryCount; i++)
            table[i] = (firstDirectory + (ulong)i * 0x1000) | Present | Writable;
        Store(memory, pdpt, table);

        for (int d = 0; d < DirectoryCount; d++)
        {
            for (int i = 0; i < Entries; i++)
                table[i] = (((ulong)d * Entries + (ulong)i) << 21) | Present | Writable | PageSize;
            Store(memory, firstDirectory + (ulong)d * 0x1000, table);
        }
        return pml4;
    }

    private static void Store(GuestMemory memory, ulong address, ulong[] table)
    {
        var bytes = new byte[Entries * 8];
        for (int i = 0; i < Entries; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), table[i]);
        memory.Load(address, bytes);
    }
}
