using System.Text;
using Hypervisor.Boot.E820;
using Hypervisor.Boot.X86;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Multiboot;

/// <summary>A module with the command line it is passed with.</summary>
public sealed record MultibootModule(BootFile File, string CommandLine = "");

/// <summary>Where a multiboot kernel and its modules were placed, and the boot vCPU's state.</summary>
public sealed record MultibootBootResult(
    CpuState Cpu,
    uint InfoAddress,
    ulong KernelStart,
    ulong KernelEnd,
    IReadOnlyList<(ulong Start, ulong End)> Modules);

/// <summary>
/// Loads a multiboot v1 kernel as QEMU's -kernel does and builds the boot information it is handed
/// (Multiboot Specification 0.6.96, 3.2 "Machine state" and 3.3 "Boot information format").
/// </summary>
public static class MultibootLoader
{
    public const uint BootloaderMagic = 0x2BAD_B002;

    private const ulong PageSize = 0x1000;

    public static MultibootBootResult Load(GuestMemory memory, MultibootImage kernel, E820Map memoryMap,
        string commandLine = "", IReadOnlyList<MultibootModule>? modules = null)
    {
        modules ??= [];
        ulong kernelStart = ulong.MaxValue, kernelEnd = 0;
        foreach (var segment in kernel.Segments)
        {
            CheckPlacement(memoryMap, kernel.Name, "kernel segment", segment.PhysicalAddress, segment.MemorySize);
            kernelStart = Math.Min(kernelStart, segment.PhysicalAddress);
            kernelEnd = Math.Max(kernelEnd, segment.End);
        }

        // Modules follow the kernel on page boundaries (always, which satisfies header flag 0), as in QEMU.
        var placed = new List<(ulong Start, ulong End)>();
        ulong cursor = AlignUp(Math.Max(kernelEnd, BootMemoryLayout.OneMiB), PageSize);
        foreach (var module in modules)
        {
            ulong size = (ulong)module.File.Data.Length;
            CheckPlacement(memoryMap, module.File.Name, "module", cursor, Math.Max(size, 1));
            placed.Add((cursor, cursor + size));
            cursor = AlignUp(cursor + size, PageSize);
        }

        var info = new MultibootInfoBuilder(BootMemoryLayout.MultibootInfo);
        info.SetMemory(memoryMap);
        info.SetCommandLine(WithName(kernel.Name, commandLine));
        info.SetModules(modules.Select((m, i) => (placed[i].Start, placed[i].End, WithName(m.File.Name, m.CommandLine))));
        info.SetMemoryMap(memoryMap);
        info.SetBootLoaderName("hv");
        byte[] block = info.Build();
        if ((ulong)block.Length > BootMemoryLayout.MultibootInfoEnd - BootMemoryLayout.MultibootInfo)
            throw new BootImageException(kernel.Name, "the multiboot command lines and module list are too large");
        ulong infoEnd = BootMemoryLayout.MultibootInfo + (ulong)block.Length;
        foreach (var segment in kernel.Segments)
            if (Overlaps(segment.PhysicalAddress, segment.End, BootMemoryLayout.Gdt, BootMemoryLayout.Gdt + BootGdt.Size)
                || Overlaps(segment.PhysicalAddress, segment.End, BootMemoryLayout.MultibootInfo, infoEnd))
                throw new BootImageException(kernel.Name,
                    $"a kernel segment at 0x{segment.PhysicalAddress:x}-0x{segment.End - 1:x} overlaps the boot information hv builds in low memory");

        foreach (var segment in kernel.Segments)
        {
            memory.Load(segment.PhysicalAddress, kernel.FileBytes(segment));
            ulong bss = segment.MemorySize - (ulong)segment.FileSize;
            Zero(memory, segment.PhysicalAddress + (ulong)segment.FileSize, bss);
        }
        for (int i = 0; i < modules.Count; i++) memory.Load(placed[i].Start, modules[i].File.Data);
        memory.Load(BootMemoryLayout.MultibootInfo, block);

        var cpu = EntryState.ProtectedMode32(memory, kernel.Entry);
        cpu.Rax = BootloaderMagic;
        cpu.Rbx = BootMemoryLayout.MultibootInfo;
        return new MultibootBootResult(cpu, (uint)BootMemoryLayout.MultibootInfo, kernelStart, kernelEnd, placed);
    }

    /// <summary>Like GRUB and QEMU, the string a kernel or module gets starts with its file name.</summary>
    private static string WithName(string name, string commandLine) =>
        commandLine.Length == 0 ? name : $"{name} {commandLine}";

    private static void CheckPlacement(E820Map map, string name, string what, ulong address, ulong size)
    {
        if (address + size > 1UL << 32 || !map.IsUsable(address, size))
            throw new BootImageException(name,
                $"the {what} at 0x{address:x}-0x{address + size - 1:x} does not fit in the guest's usable RAM");
    }

    private static void Zero(GuestMemory memory, ulong address, ulong size)
    {
        while (size > 0)
        {
            int chunk = (int)Math.Min(size, 1 << 20);
            memory.GetWritableSpan(address, chunk).Clear();
            address += (ulong)chunk;
            size -= (ulong)chunk;
        }
    }

    private static bool Overlaps(ulong start, ulong end, ulong otherStart, ulong otherEnd) =>
        start < otherEnd && otherStart < end;

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) / alignment * alignment;
}

/// <summary>The multiboot_info structure followed by the memory map, module list and strings it points to.</summary>
internal sealed class MultibootInfoBuilder(ulong address)
{
    public const int InfoSize = 120;

    private const uint FlagMemory = 1 << 0, FlagCommandLine = 1 << 2, FlagModules = 1 << 3, FlagMemoryMap = 1 << 6,
        FlagBootLoaderName = 1 << 9;

    private readonly LittleEndianWriter _info = new LittleEndianWriter().Zeros(InfoSize);
    private readonly LittleEndianWriter _tail = new();
    private uint _flags;

    public void SetMemory(E820Map map)
    {
        _info.PatchU32(4, map.LowerMemoryKiB);
        _info.PatchU32(8, map.UpperMemoryKiB);
        _flags |= FlagMemory;
    }

    public void SetCommandLine(string text)
    {
        _info.PatchU32(16, String(text));
        _flags |= FlagCommandLine;
    }

    public void SetModules(IEnumerable<(ulong Start, ulong End, string Text)> modules)
    {
        var list = modules.ToList();
        var strings = list.Select(m => String(m.Text)).ToList();
        Align(16);
        uint table = Here;
        for (int i = 0; i < list.Count; i++)
            _tail.U32((uint)list[i].Start).U32((uint)list[i].End).U32(strings[i]).U32(0);
        _info.PatchU32(20, (uint)list.Count);
        _info.PatchU32(24, list.Count == 0 ? 0 : table);
        _flags |= FlagModules;
    }

    /// <summary>Each entry is preceded by its size, which excludes the size field itself (3.3, mmap_*).</summary>
    public void SetMemoryMap(E820Map map)
    {
        Align(8);
        uint start = Here;
        foreach (var e in map.Entries) _tail.U32(20).U64(e.Address).U64(e.Size).U32((uint)e.Type);
        _info.PatchU32(44, Here - start);
        _info.PatchU32(48, start);
        _flags |= FlagMemoryMap;
    }

    public void SetBootLoaderName(string name)
    {
        _info.PatchU32(64, String(name));
        _flags |= FlagBootLoaderName;
    }

    public byte[] Build()
    {
        _info.PatchU32(0, _flags);
        return [.. _info.Written, .. _tail.Written];
    }

    private uint Here => (uint)(address + InfoSize + (ulong)_tail.Length);

    private uint String(string text)
    {
        uint at = Here;
        _tail.Bytes(Encoding.UTF8.GetBytes(text)).U8(0);
        return at;
    }

    private void Align(int alignment)
    {
        while (Here % alignment != 0) _tail.U8(0);
    }
}
