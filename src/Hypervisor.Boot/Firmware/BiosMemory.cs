using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Firmware;

/// <summary>
/// Guest memory of a PC that starts from a BIOS: the RAM of <see cref="GuestMemory.CreatePc"/>, except that
/// 0xC0000-0xFFFFF is split into the thirteen segments the i440FX PAM registers control (its DRAM can be hidden
/// behind the ROM), and the BIOS image mapped read-only below 4 GiB.
/// </summary>
public static class BiosMemory
{
    public const ulong ShadowStart = 0xC_0000;
    public const ulong ShadowEnd = 0x10_0000;

    /// <summary>0xC0000-0xEFFFF in 16 KiB pieces (PAM1-PAM6), then 0xF0000-0xFFFFF as one (PAM0).</summary>
    public const ulong ExpansionSegmentSize = 0x4000;
    public const ulong BiosSegment = 0xF_0000;

    /// <summary>Builds the memory and loads the image; <see cref="ShadowRam"/> then shows its last 128 KiB low.</summary>
    public static (GuestMemory Memory, ShadowRam Shadow) Create(ulong ramSize, BiosImage bios)
    {
        if (ramSize < 2UL << 20)
            throw new ArgumentException($"memory size {ramSize} bytes is too small: a PC with a BIOS needs at least 2 MiB");
        if ((ramSize & 0xFFFFF) != 0)
            throw new ArgumentException($"memory size {ramSize} bytes is not a multiple of 1 MiB");
        var memory = new GuestMemory();
        try
        {
            ulong low = PcMemoryLayout.LowRamSize(ramSize);
            memory.AddRam(0, ShadowStart, "ram-below-640k-and-vga");
            var segments = new List<MemoryRegion>(13);
            for (ulong a = ShadowStart; a < BiosSegment; a += ExpansionSegmentSize)
                segments.Add(memory.AddRam(a, ExpansionSegmentSize, $"shadow-{a:x5}"));
            segments.Add(memory.AddRam(BiosSegment, ShadowEnd - BiosSegment, $"shadow-{BiosSegment:x5}"));
            memory.AddRam(ShadowEnd, low - ShadowEnd, "ram-below-4g");
            ulong high = PcMemoryLayout.HighRamSize(ramSize);
            if (high != 0) memory.AddRam(PcMemoryLayout.FourGiB, high, "ram-above-4g");
            memory.AddRom(bios.Address, (ulong)bios.Data.Length, "bios");
            memory.Load(bios.Address, bios.Data);
            return (memory, new ShadowRam(memory, segments, bios));
        }
        catch
        {
            memory.Dispose();
            throw;
        }
    }
}
