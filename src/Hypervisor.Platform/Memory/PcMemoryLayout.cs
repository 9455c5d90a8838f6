namespace Hypervisor.Platform.Memory;

/// <summary>
/// Where a PC puts RAM: below the 32-bit PCI hole, and the rest from 4 GiB up (the same split QEMU's i440FX
/// machine uses with gigabyte alignment).
/// </summary>
public static class PcMemoryLayout
{
    /// <summary>Start of the 32-bit hole for PCI BARs, IOAPIC, LAPIC and the BIOS flash alias.</summary>
    public const ulong PciHoleStart = 0xC000_0000;

    public const ulong FourGiB = 0x1_0000_0000;

    /// <summary>The 128 KiB BIOS is also visible just below 4 GiB, where the reset vector is.</summary>
    public const ulong HighBiosSize = 0x2_0000;

    public const ulong IoApicBase = 0xFEC0_0000;
    public const ulong LapicBase = 0xFEE0_0000;

    /// <summary>Lowest PCI MMIO address handed to 32-bit BARs (above what RAM may use, below IOAPIC).</summary>
    public const ulong PciMmio32Start = 0xE000_0000;
    public const ulong PciMmio32End = 0xFEC0_0000;

    public static ulong LowRamSize(ulong ramSize) => Math.Min(ramSize, PciHoleStart);
    public static ulong HighRamSize(ulong ramSize) => ramSize > PciHoleStart ? ramSize - PciHoleStart : 0;
}
