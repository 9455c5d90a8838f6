namespace Hypervisor.Boot.Multiboot;

/// <summary>A multiboot v1 kernel: its header and where its bytes go in guest memory.</summary>
public sealed class MultibootImage
{
    private readonly byte[] _file;

    private MultibootImage(string name, byte[] file, MultibootHeader header, uint entry, IReadOnlyList<LoadSegment> segments)
    {
        Name = name;
        _file = file;
        Header = header;
        Entry = entry;
        Segments = segments;
    }

    public string Name { get; }
    public MultibootHeader Header { get; }
    public uint Entry { get; }
    public IReadOnlyList<LoadSegment> Segments { get; }

    internal ReadOnlySpan<byte> FileBytes(LoadSegment segment) => _file.AsSpan(segment.FileOffset, segment.FileSize);

    /// <summary>True when the file has a multiboot header (whether or not it is valid).</summary>
    public static bool IsMultiboot(ReadOnlySpan<byte> file)
    {
        int limit = Math.Min(file.Length, MultibootHeader.SearchLength) - 4;
        for (int offset = 0; offset <= limit; offset += 4)
            if (BitConverter.ToUInt32(file[offset..]) == MultibootHeader.Magic) return true;
        return false;
    }

    public static MultibootImage Load(string path)
    {
        var file = BootFile.Read(path);
        return Parse(file.Data, path);
    }

    /// <summary>
    /// Reads the image the way QEMU's -kernel does: with header flag 16 the a.out-kludge address fields say what
    /// to load where; otherwise the file must be an ELF executable, loaded by its PT_LOAD segments.
    /// </summary>
    public static MultibootImage Parse(byte[] file, string name)
    {
        var header = MultibootHeader.Find(file, name)
                     ?? throw new BootImageException(name, "not a multiboot kernel: no multiboot header in the first 8 KiB");
        if (!header.HasAddressFields)
        {
            var elf = ElfImage.Parse(file, name);
            return new MultibootImage(name, file, header, (uint)elf.Entry, elf.Segments);
        }

        // Multiboot 3.1.3: header_addr is where the header itself ends up, which fixes the file offset of load_addr.
        if (header.LoadAddress > header.HeaderAddress)
            throw new BootImageException(name, "bad multiboot header: load_addr is above header_addr");
        long fileOffset = header.FileOffset - (long)(header.HeaderAddress - header.LoadAddress);
        if (fileOffset < 0)
            throw new BootImageException(name, "bad multiboot header: load_addr would start before the beginning of the file");
        long loadSize = header.LoadEndAddress == 0
            ? file.Length - fileOffset
            : (long)header.LoadEndAddress - header.LoadAddress;
        if (loadSize <= 0 || fileOffset + loadSize > file.Length)
            throw new BootImageException(name,
                $"bad multiboot header: load_end_addr 0x{header.LoadEndAddress:x} asks for more than the file holds");
        ulong memorySize = (ulong)loadSize;
        if (header.BssEndAddress != 0)
        {
            ulong loadEnd = header.LoadAddress + (ulong)loadSize;
            if (header.BssEndAddress < loadEnd)
                throw new BootImageException(name, "bad multiboot header: bss_end_addr is below load_end_addr");
            memorySize = header.BssEndAddress - header.LoadAddress;
        }
        var segment = new LoadSegment(header.LoadAddress, (int)fileOffset, (int)loadSize, memorySize);
        if (segment.End > 1UL << 32)
            throw new BootImageException(name, "bad multiboot header: the image would extend past 4 GiB");
        return new MultibootImage(name, file, header, header.EntryAddress, [segment]);
    }
}
