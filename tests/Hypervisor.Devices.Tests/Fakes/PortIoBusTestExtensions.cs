using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Fakes;

/// <summary>IN/OUT of 1, 2 and 4 bytes on a real <see cref="PortIoBus"/>, as a guest would issue them.</summary>
public static class PortIoBusTestExtensions
{
    public static void Out8(this PortIoBus bus, ushort port, byte value) => bus.Write(port, [value]);

    public static void Out16(this PortIoBus bus, ushort port, ushort value) =>
        bus.Write(port, [(byte)value, (byte)(value >> 8)]);

    public static void Out32(this PortIoBus bus, ushort port, uint value) =>
        bus.Write(port, BitConverter.GetBytes(value));

    public static byte In8(this PortIoBus bus, ushort port)
    {
        Span<byte> data = stackalloc byte[1];
        bus.Read(port, data);
        return data[0];
    }

    public static ushort In16(this PortIoBus bus, ushort port)
    {
        Span<byte> data = stackalloc byte[2];
        bus.Read(port, data);
        return (ushort)BusData.ToUInt32(data);
    }

    public static uint In32(this PortIoBus bus, ushort port)
    {
        Span<byte> data = stackalloc byte[4];
        bus.Read(port, data);
        return BusData.ToUInt32(data);
    }
}
