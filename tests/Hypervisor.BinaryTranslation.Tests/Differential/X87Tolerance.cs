namespace Hypervisor.BinaryTranslation.Tests.Differential;

/// <summary>The 1-ulp register comparison of <see cref="TestCase.X87UlpTolerance"/>.</summary>
public static class X87Tolerance
{
    /// <summary>
    /// True when ST0-ST7 of two FXSAVE images are equal or differ only by adjacent encodings: same sign, both
    /// finite (normal or denormal), one apart on the line of consecutive 80-bit values.
    /// </summary>
    public static bool WithinOneUlp(ReadOnlySpan<byte> host, ReadOnlySpan<byte> emu)
    {
        for (int i = 0; i < 8; i++)
        {
            var h = host.Slice(32 + 16 * i, 10);
            var e = emu.Slice(32 + 16 * i, 10);
            if (h.SequenceEqual(e)) continue;
            if (!Position(h, out bool hn, out Int128 hk) || !Position(e, out bool en, out Int128 ek) || hn != en) return false;
            if (Int128.Abs(hk - ek) > 1) return false;
        }
        return true;
    }

    private static bool Position(ReadOnlySpan<byte> v, out bool negative, out Int128 key)
    {
        ulong m = BitConverter.ToUInt64(v);
        ushort se = BitConverter.ToUInt16(v[8..]);
        int e = se & 0x7FFF;
        negative = (se & 0x8000) != 0;
        key = e == 0 ? m : ((Int128)(e - 1) << 63) + m;
        // Finite values with a consistent integer bit only (normals with J = 1, denormals with J = 0).
        return e != 0x7FFF && (e == 0 ? (m >> 63) == 0 : (m >> 63) == 1);
    }
}
