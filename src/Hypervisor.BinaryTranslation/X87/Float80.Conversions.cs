namespace Hypervisor.BinaryTranslation.X87;

/// <summary>
/// FILD/FIST(P)/FISTTP, FLD/FST(P) m32/m64, FBLD/FBSTP and FRNDINT (SDM Vol. 1 §4.2, §4.7 packed BCD, §8.3.3;
/// Vol. 2 instruction pages). Loads of 80-bit values are plain copies (<see cref="FromBytes"/>); they raise nothing.
/// </summary>
public readonly partial struct Float80
{
    public static Float80 FromInt64(long value)
    {
        if (value == 0)
            return PositiveZero;
        ulong m = value < 0 ? (ulong)-value : (ulong)value;
        int lz = Lzcnt(m);
        return new Float80(value < 0, ExponentBias + 63 - lz, m << lz);
    }

    public static Float80 FromInt32(int value) => FromInt64(value);
    public static Float80 FromInt16(short value) => FromInt64(value);

    /// <summary>
    /// Rounds |x| (finite, non-zero, x = sig * 2^(exp-63)) to an integer magnitude under <paramref name="rc"/>.
    /// Returns false when the magnitude needs more than 64 bits (so it fits no x87 integer format).
    /// </summary>
    private static bool RoundToIntegerMagnitude(bool negative, int exp, ulong sig, X87Rounding rc, out ulong magnitude, out bool inexact, out bool up)
    {
        if (exp >= 63)
        {
            inexact = up = false;
            magnitude = exp == 63 ? sig : 0;
            return exp == 63;
        }
        if (exp < -1)
        {
            // Below one half: nothing but the sticky bit survives.
            inexact = true;
            up = RoundsUp(negative, rc, 1, 2, false);
            magnitude = up ? 1UL : 0;
            return true;
        }
        UInt128 w = (UInt128)sig << 63;
        int fs = 126 - exp;
        UInt128 rem = w & ((UInt128.One << fs) - 1);
        ulong ip = (ulong)(w >> fs);
        inexact = rem != 0;
        up = RoundsUp(negative, rc, rem, UInt128.One << (fs - 1), (ip & 1) != 0);
        magnitude = up ? ip + 1 : ip;
        return true;
    }

    /// <summary>
    /// FIST/FISTP (truncate=false, rounding by RC) and FISTTP (truncate=true) to a signed integer of
    /// <paramref name="bits"/> (16, 32, 64). NaN, infinity, unsupported or out-of-range sources raise IE and give the
    /// integer indefinite (the most negative value, SDM §4.2.2 Table 4-2); inexact results raise PE with C1 = rounded up.
    /// The result is sign-extended to long; store its low bits/8 bytes unless the control word suppresses the store.
    /// </summary>
    public static long ToInteger(Float80 x, int bits, bool truncate, X87Control cw, ref X87Status st)
    {
        if (bits is not (16 or 32 or 64))
            throw new ArgumentOutOfRangeException(nameof(bits));
        st &= ~X87Status.C1;
        long indefinite = bits == 64 ? long.MinValue : -(1L << (bits - 1));
        if (x.IsZero)
            return 0;
        if (!x.IsFiniteNonZero)
        {
            st |= X87Status.Invalid;
            return indefinite;
        }
        x.Unpack(out bool neg, out int exp, out ulong sig);
        X87Rounding rc = truncate ? X87Rounding.TowardZero : cw.Rounding;
        bool fits = RoundToIntegerMagnitude(neg, exp, sig, rc, out ulong mag, out bool inexact, out bool up);
        ulong limit = (1UL << (bits - 1)) - (neg ? 0UL : 1UL);
        if (bits == 64)
            limit = neg ? 0x8000_0000_0000_0000 : 0x7FFF_FFFF_FFFF_FFFF;
        if (!fits || mag > limit)
        {
            st |= X87Status.Invalid;
            return indefinite;
        }
        if (inexact)
            st |= X87Status.Precision;
        if (up)
            st |= X87Status.C1;
        return neg ? (long)(0 - mag) : (long)mag;
    }

    /// <summary>FRNDINT: round to an integral value under RC, ignoring PC (SDM Vol. 2 FRNDINT, §8.1.5.2).</summary>
    public static Float80 RoundToInteger(Float80 x, X87Control cw, ref X87Status st)
    {
        st &= ~X87Status.C1;
        if (x.IsUnsupported)
            return Invalid(ref st);
        if (x.IsNaN)
            return PropagateNaN(x, x, ref st);
        if (x.IsZero || x.IsInfinity)
            return x;
        if (DenormalFaults(x, x, cw, ref st))
            return x;
        x.Unpack(out bool neg, out int exp, out ulong sig);
        if (exp >= 63)
            return new Float80(neg, exp + ExponentBias, sig);
        RoundToIntegerMagnitude(neg, exp, sig, cw.Rounding, out ulong mag, out bool inexact, out bool up);
        if (inexact)
            st |= X87Status.Precision;
        if (up)
            st |= X87Status.C1;
        if (mag == 0)
            return PositiveZero.WithSign(neg);
        int lz = Lzcnt(mag);
        return new Float80(neg, ExponentBias + 63 - lz, mag << lz);
    }

    /// <summary>
    /// FLD m32: exact widening; denormal sources raise DE, SNaNs raise IE and are quieted (SDM Vol. 2 FLD). An
    /// unmasked IE pushes nothing; an unmasked DE still pushes the value (the host loads it before reporting #D).
    /// </summary>
    public static Float80 FromFloat32Bits(uint bits, X87Control cw, ref X87Status st) =>
        FromBinary(bits >> 31 != 0, (int)((bits >> 23) & 0xFF), (ulong)(bits & 0x7FFFFF) << 40, 0xFF, 127, cw, ref st);

    /// <summary>FLD m64, as <see cref="FromFloat32Bits"/>.</summary>
    public static Float80 FromFloat64Bits(ulong bits, X87Control cw, ref X87Status st) =>
        FromBinary(bits >> 63 != 0, (int)((bits >> 52) & 0x7FF), (bits & 0xF_FFFF_FFFF_FFFF) << 11, 0x7FF, 1023, cw, ref st);

    private static Float80 FromBinary(bool neg, int e, ulong fraction, int maxExp, int bias, X87Control cw, ref X87Status st)
    {
        st &= ~X87Status.C1;
        if (e == maxExp)
        {
            var r = new Float80(neg, MaxBiasedExponent, IntegerBit | fraction);
            if (fraction != 0 && (fraction & QuietBit) == 0)
            {
                st |= X87Status.Invalid;
                return r.Quieted();
            }
            return r;
        }
        if (e == 0)
        {
            if (fraction == 0)
                return PositiveZero.WithSign(neg);
            st |= X87Status.Denormal;
            int lz = Lzcnt(fraction);
            return new Float80(neg, ExponentBias - bias + 1 - lz, fraction << lz);
        }
        return new Float80(neg, ExponentBias - bias + e, IntegerBit | fraction);
    }

    /// <summary>
    /// The m32 operand of FADD/FSUB(R)/FMUL/FDIV(R)/FCOM: widened exactly and silently, an SNaN staying an SNaN so
    /// that the two-operand NaN rules of SDM Table 4-7 see it (the QNaN in ST(0) wins over it, which converting
    /// first would get wrong). Pass <paramref name="denormal"/> on as the operation's denormalSource argument.
    /// </summary>
    public static Float80 WidenFloat32(uint bits, out bool denormal)
    {
        var st = X87Status.None;
        Float80 r = FromFloat32Bits(bits, new X87Control(0x037F), ref st);
        denormal = (st & X87Status.Denormal) != 0;
        return (bits & 0x7FC0_0000) == 0x7F80_0000 && (bits & 0x3F_FFFF) != 0 ? new Float80(r.Significand & ~QuietBit, r.SignExponent) : r;
    }

    /// <summary>The m64 operand of the arithmetic instructions, as <see cref="WidenFloat32"/>.</summary>
    public static Float80 WidenFloat64(ulong bits, out bool denormal)
    {
        var st = X87Status.None;
        Float80 r = FromFloat64Bits(bits, new X87Control(0x037F), ref st);
        denormal = (st & X87Status.Denormal) != 0;
        return (bits & 0x7FF8_0000_0000_0000) == 0x7FF0_0000_0000_0000 && (bits & 0x7_FFFF_FFFF_FFFF) != 0 ? new Float80(r.Significand & ~QuietBit, r.SignExponent) : r;
    }

    /// <summary>FST m32: rounds under RC only (PC does not apply to stores, §8.1.5.2); see <see cref="ToFloat64Bits"/>.</summary>
    public static uint ToFloat32Bits(Float80 x, X87Control cw, ref X87Status st) =>
        (uint)ToBinary(x, RoundFormat.Single, 8, 23, cw, ref st);

    /// <summary>
    /// FST m64: NaNs keep their top payload bits (SNaNs quieted with IE), unsupported encodings give the
    /// indefinite with IE, and finite values round once with OE/UE/PE/C1. Whether to store: <see cref="X87Control.SuppressesStore"/>.
    /// </summary>
    public static ulong ToFloat64Bits(Float80 x, X87Control cw, ref X87Status st) =>
        ToBinary(x, RoundFormat.Double, 11, 52, cw, ref st);

    private static ulong ToBinary(Float80 x, RoundFormat f, int expBits, int fracBits, X87Control cw, ref X87Status st)
    {
        st &= ~X87Status.C1;
        ulong sign = x.IsNegative ? 1UL << (expBits + fracBits) : 0;
        ulong expAll = ((1UL << expBits) - 1) << fracBits;
        ulong fracMask = (1UL << fracBits) - 1;
        switch (x.Class)
        {
            case Float80Class.Zero:
                return sign;
            case Float80Class.Infinity:
                return sign | expAll;
            case Float80Class.Unsupported:
                st |= X87Status.Invalid;
                return (1UL << (expBits + fracBits)) | expAll | (1UL << (fracBits - 1));
            case Float80Class.QuietNaN:
            case Float80Class.SignalingNaN:
                if (x.IsSignalingNaN)
                    st |= X87Status.Invalid;
                return sign | expAll | (((x.Significand | QuietBit) >> (63 - fracBits)) & fracMask);
        }
        // No DE here: a denormal register value is simply rounded (the host reports only UE/PE for it).
        x.Unpack(out bool neg, out int exp, out ulong sig);
        Rounded r = RoundCore(neg, exp, (UInt128)sig << 64, f, cw.Rounding, cw, ref st);
        if (!r.Stored)
            return 0;
        if (r.Infinity)
            return sign | expAll;
        ulong frac = r.Sig >> (63 - fracBits);
        if ((r.Sig & IntegerBit) == 0)
            return sign | frac;
        ulong biased = (ulong)(r.Exp + (1 << (expBits - 1)) - 1);
        return sign | (biased << fracBits) | (frac & fracMask);
    }

    public static Float80 FromDouble(double value)
    {
        var st = X87Status.None;
        return FromFloat64Bits(BitConverter.DoubleToUInt64Bits(value), X87Control.Default, ref st);
    }

    /// <summary>Round-to-nearest conversion to double, as FST m64 with the default control word.</summary>
    public double ToDouble()
    {
        var st = X87Status.None;
        return BitConverter.UInt64BitsToDouble(ToFloat64Bits(this, X87Control.Default, ref st));
    }

    /// <summary>
    /// FBLD: 18 BCD digits (bytes 0-8, low digit first) and the sign in bit 7 of byte 9 (SDM §4.7). Non-decimal
    /// nibbles are undefined by the SDM; they are weighted like decimal digits here, which is what the host does.
    /// </summary>
    public static Float80 FromPackedBcd(ReadOnlySpan<byte> bcd)
    {
        if (bcd.Length < 10)
            throw new ArgumentException("Packed BCD needs 10 bytes.", nameof(bcd));
        ulong v = 0;
        for (int i = 8; i >= 0; i--)
            v = v * 100 + (ulong)(bcd[i] >> 4) * 10 + (ulong)(bcd[i] & 0xF);
        bool neg = (bcd[9] & 0x80) != 0;
        if (v == 0)
            return PositiveZero.WithSign(neg);
        int lz = Lzcnt(v);
        return new Float80(neg, ExponentBias + 63 - lz, v << lz);
    }

    /// <summary>
    /// FBSTP: rounds under RC to an integer of at most 18 digits; otherwise IE and the packed BCD indefinite
    /// FFFF C000 0000 0000 0000 (SDM §4.7 Table 4-4). Store unless <see cref="X87Control.SuppressesStore"/>.
    /// </summary>
    public static void ToPackedBcd(Float80 x, Span<byte> destination, X87Control cw, ref X87Status st)
    {
        if (destination.Length < 10)
            throw new ArgumentException("Packed BCD needs 10 bytes.", nameof(destination));
        st &= ~X87Status.C1;
        destination[..10].Clear();
        ulong mag = 0;
        bool ok = true;
        if (x.IsZero)
        {
        }
        else if (!x.IsFiniteNonZero)
        {
            ok = false;
        }
        else
        {
            x.Unpack(out bool neg, out int exp, out ulong sig);
            ok = RoundToIntegerMagnitude(neg, exp, sig, cw.Rounding, out mag, out bool inexact, out bool up) && mag <= 999_999_999_999_999_999UL;
            if (ok && inexact)
                st |= X87Status.Precision;
            if (ok && up)
                st |= X87Status.C1;
        }
        if (!ok)
        {
            st |= X87Status.Invalid;
            destination[9] = 0xFF;
            destination[8] = 0xFF;
            destination[7] = 0xC0;
            return;
        }
        for (int i = 0; i < 9; i++)
        {
            destination[i] = (byte)((mag % 10) | ((mag / 10 % 10) << 4));
            mag /= 100;
        }
        destination[9] = (byte)(x.IsNegative ? 0x80 : 0);
    }
}
