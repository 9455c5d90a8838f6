using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Pci;

public enum PciBarKind
{
    Io,
    Memory32,

    /// <summary>A 64-bit memory BAR: it takes its own slot and the next one for the upper half (6.2.5.1).</summary>
    Memory64,

    /// <summary>The Expansion ROM Base Address register at 0x30 (6.2.5.2).</summary>
    ExpansionRom,
}

/// <summary>
/// One base address register of a function: what the device declared (kind, power-of-two size, the handler
/// that serves the range) and where it is decoded now. <see cref="MappedAddress"/> is non-null exactly while the
/// range is registered on the port or MMIO bus.
/// </summary>
public sealed class PciBar
{
    /// <summary>The <see cref="Index"/> the expansion ROM BAR uses (it is not one of BAR0-5).</summary>
    public const int ExpansionRomIndex = PciRegisters.BarCount;

    /// <summary>x86 physical addresses have at most 52 bits; a 64-bit BAR above that can never be reached.</summary>
    public const ulong MaxPhysicalAddress = 1UL << 52;

    internal PciBar(int index, PciBarKind kind, ulong size, bool prefetchable, IBusDevice handler)
    {
        Index = index;
        Kind = kind;
        Size = size;
        Prefetchable = prefetchable;
        Handler = handler;
    }

    public int Index { get; }
    public PciBarKind Kind { get; }
    public ulong Size { get; }
    public bool Prefetchable { get; }
    public IBusDevice Handler { get; }
    public ulong? MappedAddress { get; internal set; }

    public bool IsIo => Kind == PciBarKind.Io;

    public int RegisterOffset =>
        Kind == PciBarKind.ExpansionRom ? PciRegisters.ExpansionRomBar : PciRegisters.Bar0 + 4 * Index;

    /// <summary>The read-only low bits of the BAR: space, type and prefetchable indicators (6.2.5.1).</summary>
    internal uint TypeBits => Kind switch
    {
        PciBarKind.Io => 0x1,
        PciBarKind.Memory32 => Prefetchable ? 0x8u : 0x0u,
        PciBarKind.Memory64 => Prefetchable ? 0xCu : 0x4u,
        _ => 0x0,
    };

    /// <summary>
    /// The writable bits: the address bits above the size, so that writing all ones reads back the size
    /// (6.2.5.1). The ROM BAR's enable bit 0 is writable too (6.2.5.2).
    /// </summary>
    internal uint LowWriteMask => Kind switch
    {
        PciBarKind.Io => ~(uint)(Size - 1) & 0xFFFF_FFFC,
        PciBarKind.ExpansionRom => (~(uint)(Size - 1) & 0xFFFF_F800) | 1,
        _ => Size >= 1UL << 32 ? 0 : ~(uint)(Size - 1) & 0xFFFF_FFF0,
    };

    internal uint HighWriteMask => Kind == PciBarKind.Memory64 ? ~(uint)((Size - 1) >> 32) : 0;

    /// <summary>
    /// Where the BAR's current register value says the range is, or null when it must not decode there. As in
    /// QEMU, a BAR at 0, one that wraps or ends at 0xFFFFFFFF (the sizing pattern, and the reset vector), and an
    /// I/O BAR beyond the 64 KiB port space are not decoded.
    /// </summary>
    internal ulong? DecodedAddress(PciConfigSpace config)
    {
        var command = config.Command;
        uint low = config.GetDword(RegisterOffset);
        ulong address;
        switch (Kind)
        {
            case PciBarKind.Io:
                if ((command & PciCommand.IoSpace) == 0) return null;
                address = low & 0xFFFF_FFFC;
                if (address == 0 || address + Size > 0x1_0000) return null;
                return address;
            case PciBarKind.ExpansionRom:
                if ((command & PciCommand.MemorySpace) == 0 || (low & 1) == 0) return null;
                address = low & 0xFFFF_F800;
                break;
            case PciBarKind.Memory32:
                if ((command & PciCommand.MemorySpace) == 0) return null;
                address = low & 0xFFFF_FFF0;
                break;
            default:
                if ((command & PciCommand.MemorySpace) == 0) return null;
                address = (low & 0xFFFF_FFF0) | (ulong)config.GetDword(RegisterOffset + 4) << 32;
                break;
        }
        ulong last = address + Size - 1;
        if (address == 0 || last < address || last == 0xFFFF_FFFF || last >= MaxPhysicalAddress) return null;
        return address;
    }
}
