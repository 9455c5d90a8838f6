using System.Buffers.Binary;

namespace Hypervisor.Platform.Io;

/// <summary>Little-endian conversions between bus access bytes and integers, for any access size up to 8.</summary>
public static class BusData
{
    public static ulong ToUInt64(ReadOnlySpan<byte> data)
    {
        Span<byte> buffer = stackalloc byte[8];
        buffer.Clear();
        data[..Math.Min(8, data.Length)].CopyTo(buffer);
        return BinaryPrimitives.ReadUInt64LittleEndian(buffer);
    }

    public static uint ToUInt32(ReadOnlySpan<byte> data) => (uint)ToUInt64(data);

    public static void From(Span<byte> data, ulong value)
    {
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = i < 8 ? (byte)value : (byte)0;
            value >>= 8;
        }
    }
}
