namespace Hypervisor.BinaryTranslation.X87;

/// <summary>
/// The 80-bit packed BCD integer of FBLD/FBSTP (Intel SDM Vol. 1 §4.7, Figure 4-9): 18 digits, two per byte,
/// least significant byte first, in bytes 0-8; bit 7 of byte 9 is the sign, its other bits are ignored.
/// </summary>
public readonly partial struct Float80
{
    public const ulong MaxBcd = 999_999_999_999_999_999;

    /// <summary>The packed BCD indefinite (FFFF C000 0000 0000 0000): FBSTP's masked invalid response.</summary>
    public const ulong BcdIndefiniteLow = 0xC000_0000_0000_0000;
    public const ushort BcdIndefiniteHigh = 0xFFFF;

    /// <summary>
    /// FBLD: the value of a packed BCD integer (bytes 0-7 in <paramref name="low"/>, 8-9 in <paramref name="high"/>),
    /// always exact. Digits above 9 are undefined by the SDM; they are weighted like valid ones (digit * 10^k),
    /// which fits in 64 bits.
    /// </summary>
    public static Float80 FromPackedBcd(ulong low, ushort high)
    {
        ulong v = 0;
        for (int i = 1; i >= 0; i--) v = v * 10 + (ulong)((high >> (4 * i)) & 0xF);
        for (int i = 15; i >= 0; i--) v = v * 10 + ((low >> (4 * i)) & 0xF);
        var r = v == 0 ? PositiveZero : FromUInt64(v);
        return r.WithSign((high & 0x8000) != 0);
    }

    private static Float80 FromUInt64(ulong v)
    {
        int shift = global::System.Numerics.BitOperations.LeadingZeroCount(v);
        return new Float80(false, ExponentBias + 63 - shift, v << shift);
    }

    /// <summary>
    /// FBSTP: rounds to an integer under RC (C1 = rounded up, PE when inexact). NaN, infinity, an unsupported
    /// encoding or a magnitude above 10^18 - 1 after rounding are invalid (IE) and give the packed BCD indefinite.
    /// A negative value keeps its sign, also when it rounds to zero.
    /// </summary>
    public static void ToPackedBcd(Float80 x, X87Control cw, ref X87Status st, out ulong low, out ushort high)
    {
        st &= ~X87Status.C1;
        bool neg = x.IsNegative;
        if (x.IsZero)
        {
            low = 0;
            high = (ushort)(neg ? 0x8000 : 0);
            return;
        }
        if (!x.IsFiniteNonZero)
        {
            st |= X87Status.Invalid;
            low = BcdIndefiniteLow;
            high = BcdIndefiniteHigh;
            return;
        }
        x.Unpack(out _, out int exp, out ulong sig);
        bool fits = RoundToIntegerMagnitude(neg, exp, sig, cw.Rounding, out ulong mag, out bool inexact, out bool up);
        if (!fits || mag > MaxBcd)
        {
            st |= X87Status.Invalid;
            low = BcdIndefiniteLow;
            high = BcdIndefiniteHigh;
            return;
        }
        if (inexact) st |= X87Status.Precision;
        if (up) st |= X87Status.C1;
        low = 0;
        for (int i = 0; i < 16; i++, mag /= 10) low |= (mag % 10) << (4 * i);
        high = (ushort)((mag % 10) | (mag / 10 % 10) << 4 | (neg ? 0x8000u : 0));
    }
}
