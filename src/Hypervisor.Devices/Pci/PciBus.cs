using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Pci;

/// <summary>
/// PCI bus 0: the functions by device (slot) and function number, the address spaces their BARs decode in, the
/// interrupt controller their MSI writes reach and the PIIX3 router their INTx# pins are wired to.
/// </summary>
public sealed class PciBus
{
    private readonly PciDevice?[] _functions = new PciDevice?[PciAddress.MaxDevices * PciAddress.MaxFunctions];
    private readonly object _attachLock = new();

    public PciBus(PortIoBus ports, MmioBus mmio, IInterruptController interrupts)
    {
        Ports = ports;
        Mmio = mmio;
        Interrupts = interrupts;
        IntxRouter = new PciIntxRouter(interrupts);
    }

    public const byte Number = 0;

    public PortIoBus Ports { get; }
    public MmioBus Mmio { get; }
    public IInterruptController Interrupts { get; }
    public PciIntxRouter IntxRouter { get; }

    /// <summary>The attached functions in bus order (device, then function).</summary>
    public IReadOnlyList<PciDevice> Devices
    {
        get
        {
            lock (_attachLock) return [.. _functions.OfType<PciDevice>()];
        }
    }

    public void Attach(PciDevice device, int slot, int function = 0)
    {
        if (slot is < 0 or >= PciAddress.MaxDevices)
            throw new ArgumentOutOfRangeException(nameof(slot), slot, "PCI device number is 0-31");
        if (function is < 0 or >= PciAddress.MaxFunctions)
            throw new ArgumentOutOfRangeException(nameof(function), function, "PCI function number is 0-7");
        lock (_attachLock)
        {
            ref var entry = ref _functions[slot * PciAddress.MaxFunctions + function];
            var address = new PciAddress(Number, (byte)slot, (byte)function);
            if (entry is not null) throw new InvalidOperationException($"PCI {address} is taken by {entry.Name}");
            device.Attach(this, address);
            entry = device;
        }
    }

    /// <summary>The lowest slot with no function 0, from <paramref name="firstSlot"/> on.</summary>
    public int FindFreeSlot(int firstSlot = 0)
    {
        lock (_attachLock)
        {
            for (int slot = firstSlot; slot < PciAddress.MaxDevices; slot++)
                if (_functions[slot * PciAddress.MaxFunctions] is null) return slot;
        }
        throw new InvalidOperationException("no free PCI slot on bus 0");
    }

    public PciDevice? Find(int slot, int function)
    {
        if (slot is < 0 or >= PciAddress.MaxDevices || function is < 0 or >= PciAddress.MaxFunctions) return null;
        return Volatile.Read(ref _functions[slot * PciAddress.MaxFunctions + function]);
    }

    /// <summary>
    /// A configuration read. Nothing answers for an absent function or another bus number, so the host bridge
    /// ends the transaction with a master abort and the read returns all ones (PCI 3.0, 6.1).
    /// </summary>
    public uint ReadConfig(PciAddress address, int offset, int size)
    {
        var device = address.Bus == Number ? Find(address.Device, address.Function) : null;
        if (device is null || offset + size > device.Config.Size)
            return size == 4 ? 0xFFFF_FFFF : (1u << (8 * size)) - 1;
        return device.ReadConfig(offset, size);
    }

    /// <summary>A configuration write; to an absent function it goes nowhere.</summary>
    public void WriteConfig(PciAddress address, int offset, int size, uint value)
    {
        var device = address.Bus == Number ? Find(address.Device, address.Function) : null;
        if (device is null || offset + size > device.Config.Size) return;
        device.WriteConfig(offset, size, value);
    }

    /// <summary>PCI RST#: every function back to its power-on state.</summary>
    public void Reset()
    {
        foreach (var device in Devices) device.Reset();
    }
}
