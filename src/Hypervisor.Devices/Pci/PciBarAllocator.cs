using Hypervisor.Platform.Memory;

namespace Hypervisor.Devices.Pci;

public readonly record struct PciBarAssignment(PciAddress Address, string Device, int Bar, PciBarKind Kind, ulong Base, ulong Size);

/// <summary>
/// Does what PCI firmware does before an OS without its own resource allocation starts (direct kernel boot):
/// gives every BAR a naturally aligned address - I/O from 0xC000, memory from
/// <see cref="PcMemoryLayout.PciMmio32Start"/> (64-bit BARs too, as SeaBIOS does while they fit) - writes it
/// through the guest's configuration path, enables I/O and memory decoding and fills Interrupt Line with the
/// routed IRQ. Largest BARs first, so alignment wastes no space. Expansion ROMs get an address but stay disabled.
/// </summary>
public sealed class PciBarAllocator
{
    public const ulong DefaultIoStart = 0xC000;
    public const ulong IoEnd = 0x1_0000;

    private readonly ulong _ioStart;
    private readonly ulong _ioEnd;
    private readonly ulong _memoryStart;
    private readonly ulong _memoryEnd;

    public PciBarAllocator(ulong ioStart = DefaultIoStart, ulong ioEnd = IoEnd,
        ulong memoryStart = PcMemoryLayout.PciMmio32Start, ulong memoryEnd = PcMemoryLayout.PciMmio32End)
    {
        if (ioStart >= ioEnd || ioEnd > IoEnd) throw new ArgumentException("I/O window must lie in 0-0xFFFF");
        if (memoryStart >= memoryEnd || memoryEnd > PcMemoryLayout.FourGiB)
            throw new ArgumentException("memory window must lie below 4 GiB");
        _ioStart = ioStart;
        _ioEnd = ioEnd;
        _memoryStart = memoryStart;
        _memoryEnd = memoryEnd;
    }

    /// <summary>Assigns and enables every BAR on <paramref name="bus"/>; throws when a window is exhausted.</summary>
    public IReadOnlyList<PciBarAssignment> Assign(PciBus bus)
    {
        var devices = bus.Devices;
        var bars = devices.SelectMany(d => d.Bars.OfType<PciBar>().Select(b => (Device: d, Bar: b))).ToList();
        var assignments = new List<PciBarAssignment>();
        ulong nextIo = _ioStart, nextMemory = _memoryStart;
        // Stable sort by descending size: equal sizes keep bus order, so the layout is reproducible.
        foreach (var (device, bar) in bars.OrderByDescending(x => x.Bar.Size))
        {
            ref ulong next = ref bar.IsIo ? ref nextIo : ref nextMemory;
            ulong end = bar.IsIo ? _ioEnd : _memoryEnd;
            ulong address = (next + bar.Size - 1) & ~(bar.Size - 1);
            if (address + bar.Size > end)
                throw new InvalidOperationException(
                    $"no room for {bar.Size:#,0}-byte {bar.Kind} BAR{bar.Index} of {device.Name} at {device.Address}");
            next = address + bar.Size;
            Program(device, bar, address);
            assignments.Add(new(device.Address, device.Name, bar.Index, bar.Kind, address, bar.Size));
        }

        foreach (var device in devices)
        {
            var command = (PciCommand)device.ReadConfig(PciRegisters.Command, 2);
            foreach (var bar in device.Bars.OfType<PciBar>())
                command |= bar.IsIo ? PciCommand.IoSpace : PciCommand.MemorySpace;
            device.WriteConfig(PciRegisters.Command, 2, (uint)command);
            if (device.InterruptPin != PciInterruptPin.None && device.Address.Bus == PciBus.Number)
            {
                int pirq = PciIntxRouter.SwizzlePirq(device.Address.Device, device.InterruptPin);
                int? irq = PciIntxRouter.DecodeRoute(bus.IntxRouter.GetRoute(pirq));
                device.WriteConfig(PciRegisters.InterruptLine, 1, (uint)(irq ?? PciRegisters.InterruptLineUnknown));
            }
        }
        return assignments;
    }

    private static void Program(PciDevice device, PciBar bar, ulong address)
    {
        // The type bits are read-only, so writing the bare address leaves them intact; the ROM enable bit stays 0.
        device.WriteConfig(bar.RegisterOffset, 4, (uint)address);
        if (bar.Kind == PciBarKind.Memory64)
            device.WriteConfig(bar.RegisterOffset + 4, 4, (uint)(address >> 32));
    }
}
