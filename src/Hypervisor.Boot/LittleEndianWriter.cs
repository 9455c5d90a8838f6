using System.Buffers.Binary;
using System.Text;

namespace Hypervisor.Boot;

/// <summary>Appends little-endian fields to a growable buffer and patches them later (lengths, checksums).</summary>
internal sealed class LittleEndianWriter
{
    private byte[] _buffer = new byte[256];

    public int Length { get; private set; }

    public LittleEndianWriter U8(int value) { Reserve(1)[0] = (byte)value; return this; }

    public LittleEndianWriter U16(int value) { BinaryPrimitives.WriteUInt16LittleEndian(Reserve(2), (ushort)value); return this; }

    public LittleEndianWriter U32(uint value) { BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value); return this; }

    public LittleEndianWriter U64(ulong value) { BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value); return this; }

    public LittleEndianWriter Bytes(ReadOnlySpan<byte> bytes) { bytes.CopyTo(Reserve(bytes.Length)); return this; }

    public LittleEndianWriter Zeros(int count) { Reserve(count).Clear(); return this; }

    /// <summary>ASCII text in a fixed-width field, padded with <paramref name="pad"/>; longer text is an error.</summary>
    public LittleEndianWriter Ascii(string text, int width, char pad = ' ')
    {
        if (text.Length > width) throw new ArgumentException($"'{text}' does not fit in {width} bytes");
        Encoding.ASCII.GetBytes(text.PadRight(width, pad), Reserve(width));
        return this;
    }

    public void PatchU8(int offset, int value) => _buffer[offset] = (byte)value;

    public void PatchU16(int offset, int value) =>
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.AsSpan(offset), (ushort)value);

    public void PatchU32(int offset, uint value) =>
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(offset), value);

    public Span<byte> Written => _buffer.AsSpan(0, Length);

    public byte[] ToArray() => Written.ToArray();

    private Span<byte> Reserve(int count)
    {
        if (Length + count > _buffer.Length)
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, Length + count));
        var span = _buffer.AsSpan(Length, count);
        Length += count;
        return span;
    }
}

internal static class Checksum
{
    /// <summary>The byte that makes <paramref name="bytes"/> sum to zero mod 256 (ACPI and MP tables).</summary>
    public static byte Complement(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (byte b in bytes) sum += b;
        return (byte)-sum;
    }

    public static byte Sum(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (byte b in bytes) sum += b;
        return sum;
    }
}
