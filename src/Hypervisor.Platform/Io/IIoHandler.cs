namespace Hypervisor.Platform.Io;

/// <summary>
/// What a CPU backend calls when the guest touches a port or an MMIO address. KVM calls it on
/// KVM_EXIT_IO/KVM_EXIT_MMIO; BT calls it inline from the instruction.
/// </summary>
public interface IIoHandler
{
    void PortRead(ushort port, Span<byte> data);
    void PortWrite(ushort port, ReadOnlySpan<byte> data);
    void MmioRead(ulong address, Span<byte> data);
    void MmioWrite(ulong address, ReadOnlySpan<byte> data);
}

/// <summary>Routes backend I/O to the two buses.</summary>
public sealed class BusIoHandler(PortIoBus ports, MmioBus mmio) : IIoHandler
{
    public PortIoBus Ports { get; } = ports;
    public MmioBus Mmio { get; } = mmio;

    public void PortRead(ushort port, Span<byte> data) => Ports.Read(port, data);
    public void PortWrite(ushort port, ReadOnlySpan<byte> data) => Ports.Write(port, data);
    public void MmioRead(ulong address, Span<byte> data) => Mmio.Read(address, data);
    public void MmioWrite(ulong address, ReadOnlySpan<byte> data) => Mmio.Write(address, data);
}
