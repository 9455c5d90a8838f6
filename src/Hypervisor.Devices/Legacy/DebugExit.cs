using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// QEMU's isa-debug-exit: a write of value v ends the VM with exit status (v &lt;&lt; 1) | 1, so a test guest can
/// report a result that cannot be mistaken for a clean exit (0). Accepts 1-, 2- and 4-byte writes at its port.
/// </summary>
public sealed class DebugExit(IVmControl vm, ushort port = DebugExit.DefaultPort) : IBusDevice
{
    public const ushort DefaultPort = 0xF4;

    public ushort Port { get; } = port;

    public void RegisterPorts(PortIoBus bus) => bus.Register(Port, 1, this, "isa-debug-exit");

    public void Read(ulong baseAddress, ulong offset, Span<byte> data) => data.Clear();

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return;
        uint value = BusData.ToUInt32(data[..Math.Min(4, data.Length)]);
        int status = (int)((value << 1) | 1);
        vm.RequestStop(new VmStopRequest(VmStopReason.DebugExit, status, $"isa-debug-exit 0x{value:x}"));
    }
}
