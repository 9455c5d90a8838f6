using Hypervisor.Devices.Pci;
using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Tests.Pci;

/// <summary>Records every line change and MSI so tests can assert what reached the interrupt controller.</summary>
internal sealed class RecordingInterruptController : IInterruptController
{
    public List<(int Gsi, bool Level)> LineChanges { get; } = [];
    public List<(ulong Address, uint Data)> Messages { get; } = [];
    public Dictionary<int, bool> Levels { get; } = [];

    public bool Level(int gsi) => Levels.GetValueOrDefault(gsi);

    public void SetIrq(int gsi, bool level)
    {
        LineChanges.Add((gsi, level));
        Levels[gsi] = level;
    }

    public void SendMsi(ulong address, uint data) => Messages.Add((address, data));
}

internal sealed class RecordingVmControl : IVmControl
{
    public List<VmStopRequest> Requests { get; } = [];

    public void RequestStop(VmStopRequest request) => Requests.Add(request);
}

/// <summary>A BAR target that remembers its accesses and answers reads with a pattern of its offset.</summary>
internal sealed class RecordingBusDevice : IBusDevice
{
    public List<(ulong Base, ulong Offset, int Size, bool IsWrite, ulong Value)> Accesses { get; } = [];

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        Accesses.Add((baseAddress, offset, data.Length, false, 0));
        BusData.From(data, 0xA500 + offset);
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data) =>
        Accesses.Add((baseAddress, offset, data.Length, true, BusData.ToUInt64(data)));
}

/// <summary>An endpoint whose BARs and capabilities each test declares.</summary>
internal sealed class TestPciDevice : PciDevice
{
    public TestPciDevice(PciInterruptPin pin = PciInterruptPin.IntA, string name = "test device")
        : base(name, 0x1AF4, 0x10F0, 0xFF_00_00, 0x01, pin)
    {
    }

    public List<(int Offset, int Size, uint Value)> DeviceWrites { get; } = [];

    public RecordingBusDevice Io(int index, uint size)
    {
        var handler = new RecordingBusDevice();
        DeclareIoBar(index, size, handler);
        return handler;
    }

    public RecordingBusDevice Memory(int index, ulong size, bool is64Bit = false, bool prefetchable = false)
    {
        var handler = new RecordingBusDevice();
        DeclareMemoryBar(index, size, handler, is64Bit, prefetchable);
        return handler;
    }

    public void Memory(int index, ulong size, IBusDevice handler) => DeclareMemoryBar(index, size, handler);

    public RecordingBusDevice Rom(uint size)
    {
        var handler = new RecordingBusDevice();
        DeclareExpansionRom(size, handler);
        return handler;
    }

    public MsiCapability WithMsi(int vectors = 1, bool is64Bit = true, bool perVectorMasking = false) =>
        AddMsiCapability(vectors, is64Bit, perVectorMasking);

    public MsiXCapability WithMsiX(int vectors, int tableBar, uint tableOffset, int pbaBar, uint pbaOffset) =>
        AddMsiXCapability(vectors, tableBar, tableOffset, pbaBar, pbaOffset);

    public int WithCapability(byte id, int length) => AddCapability(id, length);

    protected override void OnConfigWritten(int offset, int size, uint value) => DeviceWrites.Add((offset, size, value));
}

/// <summary>A PC's PCI side on fresh buses, driven through ports 0xCF8/0xCFC as a guest drives it.</summary>
internal sealed class PciMachine
{
    public PciMachine()
    {
        Root = new PciRoot(Ports, Mmio, Interrupts, VmControl);
    }

    public PortIoBus Ports { get; } = new();
    public MmioBus Mmio { get; } = new();
    public RecordingInterruptController Interrupts { get; } = new();
    public RecordingVmControl VmControl { get; } = new();
    public PciRoot Root { get; }

    public static uint Address(int bus, int device, int function, int register) =>
        0x8000_0000u | (uint)bus << 16 | (uint)device << 11 | (uint)function << 8 | (uint)(register & 0xFC);

    public uint In(ushort port, int size)
    {
        Span<byte> data = stackalloc byte[size];
        Ports.Read(port, data);
        return BusData.ToUInt32(data);
    }

    public void Out(ushort port, int size, uint value)
    {
        Span<byte> data = stackalloc byte[size];
        BusData.From(data, value);
        Ports.Write(port, data);
    }

    /// <summary>CONFIG_ADDRESS, then CONFIG_DATA at the port of the register's byte within its DWORD.</summary>
    public uint ReadConfig(int device, int function, int register, int size, int bus = 0)
    {
        Out(0xCF8, 4, Address(bus, device, function, register));
        return In((ushort)(0xCFC + (register & 3)), size);
    }

    public void WriteConfig(int device, int function, int register, int size, uint value, int bus = 0)
    {
        Out(0xCF8, 4, Address(bus, device, function, register));
        Out((ushort)(0xCFC + (register & 3)), size, value);
    }

    public ulong MmioRead(ulong address, int size)
    {
        Span<byte> data = stackalloc byte[size];
        Mmio.Read(address, data);
        return BusData.ToUInt64(data);
    }

    public void MmioWrite(ulong address, int size, ulong value)
    {
        Span<byte> data = stackalloc byte[size];
        BusData.From(data, value);
        Mmio.Write(address, data);
    }
}
