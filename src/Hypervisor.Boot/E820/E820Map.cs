using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.E820;

/// <summary>
/// The physical memory map handed to a directly booted guest (Linux boot_params.e820_table, the multiboot mmap).
/// Ranges never overlap; a range added later takes precedence over what it covers, so RAM is added first and the
/// reservations carve it afterwards.
/// </summary>
public sealed class E820Map
{
    private readonly List<E820Entry> _entries = [];

    public IReadOnlyList<E820Entry> Entries => _entries;

    /// <summary>
    /// The map of a PC built by <see cref="GuestMemory.CreatePc"/>: its RAM usable, except the EBDA and BIOS area
    /// below 1 MiB, the IOAPIC and local APIC pages and the BIOS alias below 4 GiB, which are reserved, and the
    /// ACPI tables' range (if given), which is ACPI memory. ROM regions are reserved.
    /// </summary>
    public static E820Map CreatePc(GuestMemory memory, E820Entry? acpiTables = null)
    {
        var map = new E820Map();
        foreach (var region in memory.Regions)
            map.Add(region.GuestPhysicalAddress, region.Size, region.ReadOnly ? E820Type.Reserved : E820Type.Ram);
        map.Add(BootMemoryLayout.BiosAreaStart, BootMemoryLayout.BiosAreaEnd - BootMemoryLayout.BiosAreaStart,
            E820Type.Reserved);
        map.Add(PcMemoryLayout.IoApicBase, 0x1000, E820Type.Reserved);
        map.Add(PcMemoryLayout.LapicBase, 0x1000, E820Type.Reserved);
        map.Add(PcMemoryLayout.FourGiB - PcMemoryLayout.HighBiosSize, PcMemoryLayout.HighBiosSize, E820Type.Reserved);
        if (acpiTables is { } acpi) map.Add(acpi.Address, acpi.Size, acpi.Type);
        return map;
    }

    /// <summary>Marks [address, address + size) as <paramref name="type"/>, replacing whatever it overlaps.</summary>
    public void Add(ulong address, ulong size, E820Type type)
    {
        if (size == 0) return;
        if (address + size < address) throw new ArgumentOutOfRangeException(nameof(size), "range wraps around");
        ulong end = address + size;
        var result = new List<E820Entry>(_entries.Count + 2);
        foreach (var e in _entries)
        {
            if (e.End <= address || e.Address >= end)
            {
                result.Add(e);
                continue;
            }
            if (e.Address < address) result.Add(e with { Size = address - e.Address });
            if (e.End > end) result.Add(new E820Entry(end, e.End - end, e.Type));
        }
        result.Add(new E820Entry(address, size, type));
        result.Sort((a, b) => a.Address.CompareTo(b.Address));
        _entries.Clear();
        foreach (var e in result)
        {
            if (_entries.Count > 0 && _entries[^1] is var last && last.Type == e.Type && last.End == e.Address)
                _entries[^1] = last with { Size = last.Size + e.Size };
            else
                _entries.Add(e);
        }
    }

    /// <summary>True when every byte of [address, address + size) is usable RAM.</summary>
    public bool IsUsable(ulong address, ulong size)
    {
        ulong cursor = address, end = address + size;
        foreach (var e in _entries)
        {
            if (e.End <= cursor) continue;
            if (e.Address > cursor || e.Type != E820Type.Ram) return false;
            cursor = e.End;
            if (cursor >= end) return true;
        }
        return size == 0;
    }

    /// <summary>KiB of usable RAM starting at address 0 (multiboot mem_lower, at most 640).</summary>
    public uint LowerMemoryKiB => (uint)(Math.Min(UsableFrom(0), 0xA0000) / 1024);

    /// <summary>KiB of usable RAM starting at 1 MiB up to the first hole (multiboot mem_upper).</summary>
    public uint UpperMemoryKiB => (uint)Math.Min(UsableFrom(BootMemoryLayout.OneMiB) / 1024, uint.MaxValue);

    /// <summary>Bytes of contiguous usable RAM from <paramref name="address"/>.</summary>
    public ulong UsableFrom(ulong address)
    {
        ulong cursor = address;
        foreach (var e in _entries)
        {
            if (e.End <= cursor) continue;
            if (e.Address > cursor || e.Type != E820Type.Ram) break;
            cursor = e.End;
        }
        return cursor - address;
    }

    public override string ToString() => string.Join(Environment.NewLine, _entries);
}
