using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// QEMU's isa-debugcon: every byte written to its port is the firmware's debug log (SeaBIOS writes its log to
/// 0x402 when it finds itself on QEMU). Reads return the readback value QEMU's device answers with (0xE9), which
/// firmware uses to detect it. Output goes to a host stream, or nowhere.
/// </summary>
public sealed class DebugCon(Stream? output, ushort port = DebugCon.DefaultPort) : IBusDevice, IDisposable
{
    public const ushort DefaultPort = 0x402;
    public const byte Readback = 0xE9;

    private readonly object _lock = new();

    public ushort Port { get; } = port;

    public void RegisterPorts(PortIoBus bus) => bus.Register(Port, 1, this, "isa-debugcon");

    public void Read(ulong baseAddress, ulong offset, Span<byte> data) => data.Fill(Readback);

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (output is null || data.Length == 0) return;
        lock (_lock)
        {
            try
            {
                // Only the low byte of a wider write is the character.
                output.WriteByte(data[0]);
                if (data[0] == (byte)'\n') output.Flush();
            }
            catch (IOException)
            {
                // A full disk or closed pipe must not stop the guest; the log just ends.
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            try
            {
                output?.Flush();
            }
            catch (IOException)
            {
            }
            output?.Dispose();
        }
    }
}
