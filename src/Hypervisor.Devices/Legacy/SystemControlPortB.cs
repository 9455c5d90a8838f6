using Hypervisor.Platform.Io;
using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// Port 0x61, "NMI status and control" (PC/AT port B, PIIX NMISC): bit 0 gates 8254 counter 2, bit 1 enables the
/// speaker, bits 2-3 enable the parity/IOCHK NMIs; read-only bit 4 toggles with every DRAM refresh request and
/// bit 5 is counter 2's OUT. No device here raises parity or channel-check errors, so bits 6-7 read 0.
/// </summary>
public sealed class SystemControlPortB(Pit8254 pit, VirtualClock clock) : IBusDevice
{
    public const ushort Port = 0x61;

    /// <summary>The AT BIOS programs counter 1 for a refresh request every 15.085 µs (18 CLKs).</summary>
    private const long RefreshPeriodNanoseconds = 15_085;

    private readonly object _lock = new();
    private byte _control; // bits 0-3

    /// <summary>Speaker data enable (bit 1): with counter 2's gate, whether the speaker sounds.</summary>
    public bool SpeakerEnabled
    {
        get
        {
            lock (_lock) return (_control & 0x02) != 0;
        }
    }

    public void RegisterPorts(PortIoBus bus) => bus.Register(Port, 1, this, "port B (0x61)");

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        byte value;
        lock (_lock) value = _control;
        if ((clock.NowNanoseconds / RefreshPeriodNanoseconds & 1) != 0) value |= 0x10;
        if (pit.GetOutput(2)) value |= 0x20;
        data[0] = value;
        data[1..].Fill(0xFF);
    }

    /// <summary>Machine reset: all control bits clear, so counter 2's gate is low.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _control = 0;
            pit.SetGate(2, false);
        }
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return;
        lock (_lock)
        {
            _control = (byte)(data[0] & 0x0F);
            pit.SetGate(2, (data[0] & 0x01) != 0);
        }
    }
}
