using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Firmware;

/// <summary>
/// The DRAM under 0xC0000-0xFFFFF and what hides it (82441FX datasheet, 3.2.18 PAM0-PAM6): for each segment,
/// reads go to DRAM or to PCI - where the PIIX3 forwards 0xE0000-0xFFFFF to the BIOS flash and nothing answers
/// below (all ones) - and writes go to DRAM or are lost on PCI. A BIOS runs from the ROM at reset, opens the
/// DRAM for reading and writing, copies itself there and finally write-protects it.
/// </summary>
/// <remarks>
/// Each segment is one memory region whose bytes are what the guest reads: switching the read side swaps the
/// DRAM contents in or out (saved aside while hidden), so both CPU backends execute from the region directly.
/// Writes land only when reads come from DRAM too; the write-only setting (reads from PCI, writes to DRAM),
/// which a BIOS would use to copy the ROM onto itself in place, drops the writes instead.
/// </remarks>
public sealed class ShadowRam
{
    private readonly GuestMemory _memory;
    private readonly Segment[] _segments;

    internal ShadowRam(GuestMemory memory, IReadOnlyList<MemoryRegion> regions, BiosImage bios)
    {
        _memory = memory;
        _segments = new Segment[regions.Count];
        for (int i = 0; i < regions.Count; i++)
        {
            var region = regions[i];
            var pci = new byte[region.Size];
            pci.AsSpan().Fill(0xFF);
            // The flash's last 128 KiB decode at 0xE0000-0xFFFFF; a smaller image is decoded at the top only.
            ulong aliasStart = BiosMemory.ShadowEnd - (ulong)bios.LowAlias.Length;
            for (ulong a = region.GuestPhysicalAddress; a < region.End; a++)
                if (a >= aliasStart) pci[a - region.GuestPhysicalAddress] = bios.LowAlias[(int)(a - aliasStart)];
            _segments[i] = new Segment(region, pci, new byte[region.Size]);
            // Power-on: PAM = 0, everything reads and writes the PCI side.
            memory.Load(region.GuestPhysicalAddress, pci);
            memory.SetReadOnly(region, true);
        }
    }

    /// <summary>Sets one segment, given by its start address, to read and write DRAM or PCI.</summary>
    public void Set(ulong start, bool readDram, bool writeDram)
    {
        var segment = Array.Find(_segments, s => s.Region.GuestPhysicalAddress == start)
                      ?? throw new ArgumentException($"0x{start:x} does not start a shadow segment", nameof(start));
        if (readDram != segment.ShowsDram)
        {
            var visible = _memory.GetReadOnlySpan(segment.Region.GuestPhysicalAddress, (int)segment.Region.Size);
            if (segment.ShowsDram)
            {
                visible.CopyTo(segment.HiddenDram);
                _memory.Load(segment.Region.GuestPhysicalAddress, segment.Pci);
            }
            else
            {
                _memory.Load(segment.Region.GuestPhysicalAddress, segment.HiddenDram);
            }
            segment.ShowsDram = readDram;
        }
        _memory.SetReadOnly(segment.Region, !(readDram && writeDram));
    }

    /// <summary>Whether the guest reads DRAM at <paramref name="address"/> (tests, diagnostics).</summary>
    public bool ReadsDram(ulong address) =>
        Array.Find(_segments, s => s.Region.Contains(address, 1))?.ShowsDram
        ?? throw new ArgumentOutOfRangeException(nameof(address), "not in 0xC0000-0xFFFFF");

    private sealed class Segment(MemoryRegion region, byte[] pci, byte[] hiddenDram)
    {
        public MemoryRegion Region { get; } = region;
        public byte[] Pci { get; } = pci;
        public byte[] HiddenDram { get; } = hiddenDram;
        public bool ShowsDram { get; set; }
    }
}
