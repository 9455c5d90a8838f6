using System.Text;

namespace Hypervisor.Boot.Acpi.Aml;

/// <summary>
/// An encoder for the subset of AML (ACPI 6.x, chapter 20 "ACPI Machine Language Specification") hv's DSDT needs.
/// Every method returns the encoded term; terms compose by nesting, as ASL does.
/// </summary>
public static class Aml
{
    private const byte ZeroOp = 0x00, OneOp = 0x01, OnesOp = 0xFF;
    private const byte BytePrefix = 0x0A, WordPrefix = 0x0B, DWordPrefix = 0x0C, StringPrefix = 0x0D, QWordPrefix = 0x0E;
    private const byte NameOp = 0x08, ScopeOp = 0x10, BufferOp = 0x11, PackageOp = 0x12, MethodOp = 0x14;
    private const byte ReturnOp = 0xA4;
    private const byte ExtOpPrefix = 0x5B, DeviceOp = 0x82;
    private const byte RootChar = (byte)'\\', ParentPrefixChar = (byte)'^';
    private const byte DualNamePrefix = 0x2E, MultiNamePrefix = 0x2F, NullName = 0x00;

    /// <summary>Name(name, value).</summary>
    public static byte[] Name(string name, byte[] value) => [NameOp, .. NameString(name), .. value];

    /// <summary>Scope(name) { body }.</summary>
    public static byte[] Scope(string name, params byte[][] body) =>
        [ScopeOp, .. WithPackageLength([.. NameString(name), .. Concat(body)])];

    /// <summary>Device(name) { body }.</summary>
    public static byte[] Device(string name, params byte[][] body) =>
        [ExtOpPrefix, DeviceOp, .. WithPackageLength([.. NameString(name), .. Concat(body)])];

    /// <summary>Method(name, 0, NotSerialized) { Return(value) }: a method returning a constant.</summary>
    public static byte[] MethodReturning(string name, byte[] value) =>
        [MethodOp, .. WithPackageLength([.. NameString(name), 0x00, ReturnOp, .. value])];

    /// <summary>The shortest integer encoding: ZeroOp/OneOp/OnesOp or a prefixed constant (20.2.3).</summary>
    public static byte[] Integer(ulong value) => value switch
    {
        0 => [ZeroOp],
        1 => [OneOp],
        ulong.MaxValue => [OnesOp],
        <= 0xFF => [BytePrefix, (byte)value],
        <= 0xFFFF => [WordPrefix, .. BitConverter.GetBytes((ushort)value)],
        <= 0xFFFF_FFFF => [DWordPrefix, .. BitConverter.GetBytes((uint)value)],
        _ => [QWordPrefix, .. BitConverter.GetBytes(value)],
    };

    /// <summary>A NUL-terminated ASCII string constant.</summary>
    public static byte[] String(string value)
    {
        foreach (char c in value)
            if (c is < (char)1 or > (char)0x7F) throw new ArgumentException($"AML strings are ASCII without NUL: '{value}'");
        return [StringPrefix, .. Encoding.ASCII.GetBytes(value), 0];
    }

    /// <summary>
    /// EISAID("PNP0A03"): three letters in 5 bits each and four hex digits, stored big-endian as a DWord
    /// (ACPI 6.x, 6.1.5 _HID and 19.6.35 EISAID).
    /// </summary>
    public static byte[] EisaId(string id)
    {
        if (id.Length != 7 || !id[..3].All(c => c is >= 'A' and <= 'Z') || !id[3..].All(Uri.IsHexDigit))
            throw new ArgumentException($"'{id}' is not an EISA ID (three capitals and four hex digits)");
        uint vendor = (uint)((id[0] - 0x40) << 10 | (id[1] - 0x40) << 5 | (id[2] - 0x40));
        uint product = Convert.ToUInt32(id[3..], 16);
        uint bigEndian = vendor << 16 | product;
        uint stored = (bigEndian >> 24) | ((bigEndian >> 8) & 0xFF00) | ((bigEndian << 8) & 0xFF_0000) | (bigEndian << 24);
        return Integer(stored);
    }

    /// <summary>Package() { elements }, at most 255 elements (DefPackage's NumElements is a byte).</summary>
    public static byte[] Package(params byte[][] elements)
    {
        if (elements.Length > 255) throw new ArgumentException("a Package holds at most 255 elements; use a VarPackage");
        return [PackageOp, .. WithPackageLength([(byte)elements.Length, .. Concat(elements)])];
    }

    /// <summary>Buffer() { bytes }.</summary>
    public static byte[] Buffer(byte[] bytes) =>
        [BufferOp, .. WithPackageLength([.. Integer((ulong)bytes.Length), .. bytes])];

    /// <summary>
    /// A NameString: an optional root or parent prefixes, then dot-separated segments of up to four characters,
    /// padded with '_' (20.2.2 "Name Objects Encoding").
    /// </summary>
    public static byte[] NameString(string path)
    {
        var prefix = new List<byte>();
        int i = 0;
        if (path.StartsWith('\\')) { prefix.Add(RootChar); i = 1; }
        else while (i < path.Length && path[i] == '^') { prefix.Add(ParentPrefixChar); i++; }

        string rest = path[i..];
        string[] segments = rest.Length == 0 ? [] : rest.Split('.');
        var encoded = new List<byte>(prefix);
        switch (segments.Length)
        {
            case 0: encoded.Add(NullName); break;
            case 1: break;
            case 2: encoded.Add(DualNamePrefix); break;
            default: encoded.Add(MultiNamePrefix); encoded.Add(checked((byte)segments.Length)); break;
        }
        foreach (var segment in segments) encoded.AddRange(NameSegment(segment));
        return [.. encoded];
    }

    private static byte[] NameSegment(string segment)
    {
        bool valid = segment.Length is >= 1 and <= 4
                     && (segment[0] is (>= 'A' and <= 'Z') or '_')
                     && segment.All(c => c is (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '_');
        if (!valid) throw new ArgumentException($"'{segment}' is not an AML name segment");
        return Encoding.ASCII.GetBytes(segment.PadRight(4, '_'));
    }

    /// <summary>
    /// Prefixes <paramref name="content"/> with its PkgLength, which counts its own bytes too: one byte up to 63,
    /// else a lead byte holding the low nibble and the count of following bytes (20.2.4 "Package Length
    /// Encoding").
    /// </summary>
    public static byte[] WithPackageLength(byte[] content)
    {
        int length = content.Length;
        if (length + 1 <= 0x3F) return [(byte)(length + 1), .. content];
        for (int extra = 1; extra <= 3; extra++)
        {
            int total = length + 1 + extra;
            if (total >= 1 << (4 + 8 * extra)) continue;
            var encoded = new byte[1 + extra];
            encoded[0] = (byte)(extra << 6 | (total & 0xF));
            for (int b = 0; b < extra; b++) encoded[1 + b] = (byte)(total >> (4 + 8 * b));
            return [.. encoded, .. content];
        }
        throw new ArgumentException($"AML package of {length} bytes is too long");
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
