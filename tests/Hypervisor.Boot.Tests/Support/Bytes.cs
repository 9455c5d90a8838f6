using System.Buffers.Binary;
using System.Text;

namespace Hypervisor.Boot.Tests.Support;

internal static class Bytes
{
    public static byte Sum(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (byte b in bytes) sum += b;
        return sum;
    }

    public static ushort U16(this byte[] b, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(offset));
    public static uint U32(this byte[] b, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(offset));
    public static ulong U64(this byte[] b, int offset) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(offset));
    public static string Ascii(this byte[] b, int offset, int length) => Encoding.ASCII.GetString(b, offset, length);

    /// <summary>A NUL-terminated string read from guest memory.</summary>
    public static string CString(Hypervisor.Platform.Memory.GuestMemory memory, ulong address)
    {
        var sb = new StringBuilder();
        for (ulong a = address; ; a++)
        {
            byte c = memory.Read<byte>(a);
            if (c == 0) return sb.ToString();
            sb.Append((char)c);
        }
    }
}
