using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// Port 0x80, where BIOSes write POST progress codes (a POST card latches them) and Linux writes for its I/O
/// delay. It records the last code; reads return it, as a latching POST card does.
/// </summary>
public sealed class PostCodePort : IBusDevice
{
    public const ushort Port = 0x80;

    private int _lastCode = -1;

    /// <summary>Raised with every code written (on the vCPU thread).</summary>
    public event Action<byte>? CodeWritten;

    /// <summary>The last code written, or null if none yet.</summary>
    public byte? LastCode
    {
        get
        {
            int code = Volatile.Read(ref _lastCode);
            return code < 0 ? null : (byte)code;
        }
    }

    public void RegisterPorts(PortIoBus bus) => bus.Register(Port, 1, this, "POST code (0x80)");

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        int code = Volatile.Read(ref _lastCode);
        data[0] = code < 0 ? (byte)0xFF : (byte)code;
        data[1..].Fill(0xFF);
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return;
        Volatile.Write(ref _lastCode, data[0]);
        CodeWritten?.Invoke(data[0]);
    }
}
