using System.Buffers.Binary;

namespace Hypervisor.Boot.Multiboot;

/// <summary>One PT_LOAD segment: file bytes copied to its physical address, the rest up to MemorySize zeroed.</summary>
public readonly record struct LoadSegment(ulong PhysicalAddress, int FileOffset, int FileSize, ulong MemorySize)
{
    public ulong End => PhysicalAddress + MemorySize;
}

/// <summary>
/// The loadable part of an ELF executable (System V ABI, "Program Header"): ELF32 for i386, and ELF64 whose
/// segments and entry lie below 4 GiB, for multiboot kernels linked as 64-bit objects around 32-bit start code.
/// </summary>
public sealed class ElfImage
{
    private const uint PtLoad = 1;
    private const uint PfExecute = 1;
    private const ushort EtExec = 2;
    private const ushort EmI386 = 3, EmX86_64 = 62;

    private ElfImage(ulong entry, IReadOnlyList<LoadSegment> segments)
    {
        Entry = entry;
        Segments = segments;
    }

    /// <summary>The physical entry address.</summary>
    public ulong Entry { get; }

    public IReadOnlyList<LoadSegment> Segments { get; }

    public static bool HasElfMagic(ReadOnlySpan<byte> file) =>
        file.Length >= 4 && file[0] == 0x7F && file[1] == (byte)'E' && file[2] == (byte)'L' && file[3] == (byte)'F';

    public static ElfImage Parse(ReadOnlySpan<byte> file, string name)
    {
        if (!HasElfMagic(file) || file.Length < 52)
            throw new BootImageException(name, "not an ELF file, and its multiboot header has no load addresses (flag 16)");
        bool is64 = file[4] switch
        {
            1 => false,
            2 => true,
            _ => throw new BootImageException(name, $"unknown ELF class {file[4]}"),
        };
        if (file[5] != 1) throw new BootImageException(name, "big-endian ELF files are not x86 kernels");
        if (is64 && file.Length < 64) throw new BootImageException(name, "truncated ELF64 header");

        ushort type = U16(file, 16), machine = U16(file, 18);
        if (type != EtExec) throw new BootImageException(name, $"ELF type {type} is not an executable (ET_EXEC)");
        if (machine != (is64 ? EmX86_64 : EmI386) && machine != EmI386)
            throw new BootImageException(name, $"ELF machine {machine} is not i386 or x86-64");

        ulong entry = is64 ? U64(file, 24) : U32(file, 24);
        ulong phoff = is64 ? U64(file, 32) : U32(file, 28);
        int phentsize = U16(file, is64 ? 54 : 42);
        int phnum = U16(file, is64 ? 56 : 44);
        int minimum = is64 ? 56 : 32;
        if (phnum == 0) throw new BootImageException(name, "the ELF file has no program headers");
        if (phentsize < minimum || phoff > (ulong)file.Length || (ulong)phnum * (ulong)phentsize > (ulong)file.Length - phoff)
            throw new BootImageException(name, "the ELF program header table lies outside the file");

        var segments = new List<LoadSegment>();
        ulong translatedEntry = entry;
        for (int i = 0; i < phnum; i++)
        {
            var ph = file.Slice((int)phoff + i * phentsize, minimum);
            uint pType = U32(ph, 0);
            if (pType != PtLoad) continue;
            uint flags = is64 ? U32(ph, 4) : U32(ph, 24);
            ulong offset = is64 ? U64(ph, 8) : U32(ph, 4);
            ulong vaddr = is64 ? U64(ph, 16) : U32(ph, 8);
            ulong paddr = is64 ? U64(ph, 24) : U32(ph, 12);
            ulong filesz = is64 ? U64(ph, 32) : U32(ph, 16);
            ulong memsz = is64 ? U64(ph, 40) : U32(ph, 20);
            if (offset > (ulong)file.Length || filesz > (ulong)file.Length - offset)
                throw new BootImageException(name, $"ELF segment {i} (offset 0x{offset:x}, size 0x{filesz:x}) lies outside the file");
            if (filesz > memsz)
                throw new BootImageException(name, $"ELF segment {i} has more file bytes (0x{filesz:x}) than memory bytes (0x{memsz:x})");
            if (paddr >= 1UL << 32 || memsz > (1UL << 32) - paddr)
                throw new BootImageException(name, $"ELF segment {i} at physical 0x{paddr:x} does not lie below 4 GiB");
            if (memsz == 0) continue;
            segments.Add(new LoadSegment(paddr, (int)offset, (int)filesz, memsz));
            // e_entry is virtual; QEMU and GRUB move it into the executable segment's physical placement.
            if ((flags & PfExecute) != 0 && vaddr != paddr && entry >= vaddr && entry - vaddr < filesz)
                translatedEntry = entry - vaddr + paddr;
        }
        if (segments.Count == 0) throw new BootImageException(name, "the ELF file has no loadable segments");
        if (translatedEntry >= 1UL << 32)
            throw new BootImageException(name, $"the ELF entry point 0x{translatedEntry:x} is not below 4 GiB");
        return new ElfImage(translatedEntry, segments);
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
