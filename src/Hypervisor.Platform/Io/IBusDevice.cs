namespace Hypervisor.Platform.Io;

/// <summary>
/// A device on the port-I/O or MMIO bus. <paramref name="baseAddress"/> is the start of the range the device
/// registered (so one device can serve several ranges) and <paramref name="offset"/> the distance into it;
/// <c>data.Length</c> is the access size (1, 2, 4 or 8 bytes), little-endian.
/// </summary>
public interface IBusDevice
{
    void Read(ulong baseAddress, ulong offset, Span<byte> data);

    void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data);
}
