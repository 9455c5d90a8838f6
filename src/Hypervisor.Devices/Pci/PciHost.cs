using Hypervisor.Platform;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Pci;

/// <summary>
/// The host side of I/O ports 0xCF8-0xCFF: PCI configuration mechanism #1 (PCI 3.0, 3.2.2.3.2; 82441FX
/// CONFADD/CONFDATA) and the PIIX3 Reset Control register at byte port 0xCF9 (82371SB datasheet, RC). Only a
/// DWORD access at 0xCF8 is CONFIG_ADDRESS; a byte at 0xCF9 is RC; other accesses to 0xCF8-0xCFB go nowhere.
/// </summary>
public sealed class PciHost : IBusDevice
{
    public const ushort ConfigAddressPort = 0xCF8;
    public const ushort ResetControlPort = PcPlatform.ResetPort;
    public const ushort ConfigDataPort = 0xCFC;
    public const ushort PortCount = 8;

    public const uint ConfigAddressEnable = 0x8000_0000;

    /// <summary>Bus (23:16), device (15:11), function (10:8), register (7:2) and Enable: bits 30:24 and 1:0 read 0.</summary>
    private const uint ConfigAddressMask = 0x80FF_FFFC;

    /// <summary>RC bit 1, System Reset: the reset bit 2 starts is a hard reset (1) or a soft CPU INIT (0).</summary>
    public const byte SystemReset = 1 << 1;

    /// <summary>RC bit 2, Reset CPU: a 0 to 1 transition starts the reset SRST selects.</summary>
    public const byte ResetCpu = 1 << 2;

    private readonly PciBus _bus;
    private readonly IVmControl _vmControl;
    private readonly object _lock = new();
    private uint _configAddress;
    private byte _resetControl;

    public PciHost(PciBus bus, IVmControl vmControl)
    {
        _bus = bus;
        _vmControl = vmControl;
    }

    public uint ConfigAddress
    {
        get
        {
            lock (_lock) return _configAddress;
        }
    }

    public byte ResetControl
    {
        get
        {
            lock (_lock) return _resetControl;
        }
    }

    /// <summary>Registers ports 0xCF8-0xCFF.</summary>
    public void Register(PortIoBus ports) => ports.Register(ConfigAddressPort, PortCount, this, "PCI host (CF8/CFC, RC)");

    public void Reset()
    {
        lock (_lock)
        {
            _configAddress = 0;
            _resetControl = 0;
        }
    }

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        if (offset == 0 && data.Length == 4)
            BusData.From(data, ConfigAddress);
        else if (offset == 1 && data.Length == 1)
            data[0] = ResetControl;
        else if (offset >= 4)
            ReadConfigData((int)offset - 4, data);
        else
            data.Fill(0xFF);
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset == 0 && data.Length == 4)
        {
            lock (_lock) _configAddress = BusData.ToUInt32(data) & ConfigAddressMask;
        }
        else if (offset == 1 && data.Length == 1)
        {
            WriteResetControl(data[0]);
        }
        else if (offset >= 4)
        {
            WriteConfigData((int)offset - 4, data);
        }
    }

    private void ReadConfigData(int byteInDword, Span<byte> data)
    {
        uint address = ConfigAddress;
        if ((address & ConfigAddressEnable) == 0)
        {
            data.Fill(0xFF);
            return;
        }
        if (byteInDword + data.Length <= 4 && data.Length is 1 or 2 or 4)
        {
            BusData.From(data, _bus.ReadConfig(Target(address), Register(address) + byteInDword, data.Length));
            return;
        }
        // An access that runs past 0xCFF: the bytes inside CONFIG_DATA one by one, the rest float.
        for (int i = 0; i < data.Length; i++)
            data[i] = byteInDword + i < 4
                ? (byte)_bus.ReadConfig(Target(address), Register(address) + byteInDword + i, 1)
                : (byte)0xFF;
    }

    private void WriteConfigData(int byteInDword, ReadOnlySpan<byte> data)
    {
        uint address = ConfigAddress;
        if ((address & ConfigAddressEnable) == 0) return;
        if (byteInDword + data.Length <= 4 && data.Length is 1 or 2 or 4)
        {
            _bus.WriteConfig(Target(address), Register(address) + byteInDword, data.Length, BusData.ToUInt32(data));
            return;
        }
        for (int i = 0; i < data.Length && byteInDword + i < 4; i++)
            _bus.WriteConfig(Target(address), Register(address) + byteInDword + i, 1, data[i]);
    }

    private void WriteResetControl(byte value)
    {
        bool start;
        lock (_lock)
        {
            // Bits 7:3 and 0 are reserved (82371SB RC register).
            byte next = (byte)(value & (SystemReset | ResetCpu));
            start = (_resetControl & ResetCpu) == 0 && (next & ResetCpu) != 0;
            _resetControl = next;
        }
        if (!start) return;
        // A soft reset only INITs the CPUs, but the BIOS then runs POST and reinitialises the machine, so hv
        // treats it as the hard reset it ends up as (QEMU does the same).
        bool hard = (value & SystemReset) != 0;
        _vmControl.RequestStop(new VmStopRequest(VmStopReason.Reset, 0,
            hard ? "PIIX3 reset control: hard reset" : "PIIX3 reset control: soft reset"));
    }

    private static PciAddress Target(uint address) =>
        new((byte)(address >> 16), (byte)((address >> 11) & 0x1F), (byte)((address >> 8) & 0x7));

    private static int Register(uint address) => (int)(address & 0xFC);
}
