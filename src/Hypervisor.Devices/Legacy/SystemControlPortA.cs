using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// Port 0x92, "System Control Port A" of the PS/2 and of every PC chipset since: bit 1 is fast A20, and a 0-to-1
/// transition of bit 0 resets the CPU (the "fast reset" OSes use when the keyboard controller fails them).
/// </summary>
public sealed class SystemControlPortA(IVmControl vm, A20Gate a20) : IBusDevice
{
    public const ushort Port = 0x92;

    private const byte FastReset = 0x01, FastA20 = 0x02;

    private readonly object _lock = new();
    private byte _value;

    public void RegisterPorts(PortIoBus bus) => bus.Register(Port, 1, this, "system control port A (0x92)");

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        lock (_lock) data[0] = _value;
        data[1..].Fill(0xFF);
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return;
        bool reset;
        lock (_lock)
        {
            reset = (data[0] & FastReset) != 0 && (_value & FastReset) == 0;
            _value = (byte)(data[0] & (FastReset | FastA20));
            a20.SetFastA20((data[0] & FastA20) != 0);
        }
        if (reset) vm.RequestStop(new VmStopRequest(VmStopReason.Reset, 0, "port 0x92 fast reset"));
    }

    /// <summary>A CPU reset does not clear the latch by itself on all chipsets; the machine calls this on reset.</summary>
    public void Reset()
    {
        lock (_lock) _value = 0;
        a20.SetFastA20(false);
    }
}
