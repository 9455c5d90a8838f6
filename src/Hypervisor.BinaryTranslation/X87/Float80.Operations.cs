namespace Hypervisor.BinaryTranslation.X87;

/// <summary>FCOM/FUCOM/FTST, FXAM, FPREM/FPREM1, FSCALE, FXTRACT and the FLDxx constants (SDM Vol. 2 pages).</summary>
public readonly partial struct Float80
{
    private const X87Status CompareCodes = X87Status.C0 | X87Status.C1 | X87Status.C2 | X87Status.C3;

    /// <summary>
    /// FCOM (<paramref name="unordered"/> = false: any NaN raises IE) and FUCOM (true: only SNaNs raise IE), also
    /// the semantics of FCOMI/FUCOMI and FTST (compare with +0). Assigns C3,C2,C0 per SDM FCOM Table 3-21 and
    /// clears C1; ±0 compare equal. Unsupported encodings are always invalid and unordered (§8.2.3).
    /// </summary>
    public static X87Comparison Compare(Float80 a, Float80 b, bool unordered, X87Control cw, ref X87Status st, bool denormalSource = false)
    {
        // The condition codes are written even when IE/DE is unmasked: a compare has no destination to protect.
        X87Comparison r = CompareCore(a, b, unordered, ref st);
        if (denormalSource && r != X87Comparison.Unordered)
            st |= X87Status.Denormal;
        st &= ~CompareCodes;
        st |= r switch
        {
            X87Comparison.Less => X87Status.C0,
            X87Comparison.Equal => X87Status.C3,
            X87Comparison.Unordered => X87Status.C0 | X87Status.C2 | X87Status.C3,
            _ => X87Status.None,
        };
        return r;
    }

    private static X87Comparison CompareCore(Float80 a, Float80 b, bool unordered, ref X87Status st)
    {
        if (a.IsUnsupported || b.IsUnsupported || a.IsNaN || b.IsNaN)
        {
            if (a.IsUnsupported || b.IsUnsupported || !unordered || a.IsSignalingNaN || b.IsSignalingNaN)
                st |= X87Status.Invalid;
            return X87Comparison.Unordered;
        }
        if (a.IsDenormal || b.IsDenormal)
            st |= X87Status.Denormal;
        if (a.IsZero && b.IsZero)
            return X87Comparison.Equal;
        if (a.IsNegative != b.IsNegative)
            return a.IsZero ? (b.IsNegative ? X87Comparison.Greater : X87Comparison.Less)
                : b.IsZero ? (a.IsNegative ? X87Comparison.Less : X87Comparison.Greater)
                : a.IsNegative ? X87Comparison.Less : X87Comparison.Greater;
        int mag = CompareMagnitude(a, b);
        if (mag == 0)
            return X87Comparison.Equal;
        return (mag > 0) != a.IsNegative ? X87Comparison.Greater : X87Comparison.Less;
    }

    /// <summary>Magnitude order of two supported non-NaN values (denormals and pseudo-denormals by value).</summary>
    private static int CompareMagnitude(Float80 a, Float80 b)
    {
        if (a.IsZero || b.IsZero)
            return a.IsZero ? (b.IsZero ? 0 : -1) : 1;
        if (a.IsInfinity || b.IsInfinity)
            return a.IsInfinity ? (b.IsInfinity ? 0 : 1) : -1;
        a.Unpack(out _, out int ea, out ulong ma);
        b.Unpack(out _, out int eb, out ulong mb);
        return ea != eb ? ea.CompareTo(eb) : ma.CompareTo(mb);
    }

    /// <summary>FXAM: class in C3,C2,C0 and the sign in C1 (SDM Vol. 2 FXAM); never raises an exception.</summary>
    public static X87ExamineClass Examine(Float80 x, ref X87Status st)
    {
        X87ExamineClass c = x.Class switch
        {
            Float80Class.Zero => X87ExamineClass.Zero,
            Float80Class.Denormal or Float80Class.PseudoDenormal => X87ExamineClass.Denormal,
            Float80Class.Normal => X87ExamineClass.Normal,
            Float80Class.Infinity => X87ExamineClass.Infinity,
            Float80Class.QuietNaN or Float80Class.SignalingNaN => X87ExamineClass.NaN,
            _ => X87ExamineClass.Unsupported,
        };
        SetExamineCodes(c, x.IsNegative, ref st);
        return c;
    }

    /// <summary>Encodes an FXAM class (also Empty, which the caller determines from the tag word).</summary>
    public static void SetExamineCodes(X87ExamineClass c, bool negative, ref X87Status st)
    {
        int bits = (int)c;
        st &= ~CompareCodes;
        if ((bits & 4) != 0) st |= X87Status.C3;
        if ((bits & 2) != 0) st |= X87Status.C2;
        if ((bits & 1) != 0) st |= X87Status.C0;
        if (negative) st |= X87Status.C1;
    }

    /// <summary>
    /// FPREM (<paramref name="ieee"/> = false: truncated quotient) and FPREM1 (true: quotient rounded to nearest
    /// even, IEEE remainder) of ST(0)=<paramref name="a"/> by ST(1)=<paramref name="b"/>. The remainder is exact.
    /// When the exponent difference is 64 or more only a partial reduction is done, by a power of two chosen so
    /// that the difference drops by 32..63 bits, and C2 is set; the caller loops as software does. Otherwise C2 = 0
    /// and C0, C3, C1 hold quotient bits Q2, Q1, Q0 (SDM Vol. 2 FPREM/FPREM1).
    /// With a NaN or an invalid operand pair C1 = C2 = 0 and C0/C3 are left as they were.
    /// </summary>
    public static Float80 Remainder(Float80 a, Float80 b, bool ieee, X87Control cw, ref X87Status st)
    {
        // C0 and C3 keep their old values for NaN and invalid operands (host behaviour); every numeric operand
        // pair produces quotient bits, zero when the dividend is below the divisor.
        st &= ~(X87Status.C1 | X87Status.C2);
        if (InvalidOperands(a, b, ref st, out Float80 special))
            return special;
        if (a.IsInfinity || b.IsZero)
            return Invalid(ref st);
        st &= ~(X87Status.C0 | X87Status.C3);
        if (DenormalFaults(a, b, cw, ref st))
            return a;
        if (a.IsZero)
            return a;
        a.Unpack(out bool sa, out int ea, out ulong ma);
        // A finite dividend of an infinite divisor comes back as is, but normalized like any other result (a
        // pseudo-denormal turns into a normal, a denormal takes the unmasked-underflow rebias): host behaviour.
        if (b.IsInfinity)
            return RoundToExtended(sa, ea, (UInt128)ma << 64, 64, cw, ref st);
        b.Unpack(out _, out int eb, out ulong mb);
        int d = ea - eb;
        if (d < (ieee ? -1 : 0))
            return RoundToExtended(sa, ea, (UInt128)ma << 64, 64, cw, ref st);

        bool partial = d >= 64;
        UInt128 num, den;
        int scale;      // weight of the remainder's bit 0 is 2^scale
        if (partial)
        {
            // Observed on the host (and in the SDM's "N between 32 and 63"): N = 32 + (D mod 32) bits per step.
            int n = 32 + (d & 31);
            num = (UInt128)ma << n;
            den = mb;
            scale = ea - n - 63;
        }
        else
        {
            num = (UInt128)ma << Math.Max(d, 0);
            den = (UInt128)mb << Math.Max(-d, 0);
            scale = Math.Min(ea, eb) - 63;
        }
        UInt128 q = num / den;
        UInt128 r = num - q * den;
        bool neg = sa;
        if (ieee && !partial && (r << 1 > den || (r << 1 == den && (q & 1) != 0)))
        {
            r = den - r;
            q++;
            neg = !neg;
        }
        if (partial)
            st |= X87Status.C2;
        else
        {
            if ((q & 4) != 0) st |= X87Status.C0;
            if ((q & 2) != 0) st |= X87Status.C3;
            if ((q & 1) != 0) st |= X87Status.C1;
        }
        if (r == 0)
            return PositiveZero.WithSign(sa);
        X87Status codes = st & CompareCodes;
        Float80 result = NormalizeRound(neg, scale + 127, r, 64, cw, ref st);
        st = (st & ~CompareCodes) | codes;
        return result;
    }

    /// <summary>
    /// FSCALE: ST(0) * 2^trunc(ST(1)), rounded once under RC at full precision (PC does not apply, §8.1.5.2); the
    /// infinite and zero scale cases follow SDM Vol. 2 FSCALE Table 3-40.
    /// </summary>
    public static Float80 Scale(Float80 a, Float80 b, X87Control cw, ref X87Status st)
    {
        st &= ~X87Status.C1;
        if (InvalidOperands(a, b, ref st, out Float80 special))
            return special;
        if (b.IsInfinity)
        {
            if (b.IsNegative ? a.IsInfinity : a.IsZero)
                return Invalid(ref st);
            if (DenormalFaults(a, b, cw, ref st))
                return a;
            if (a.IsZero || a.IsInfinity)
                return a;
            return b.IsNegative ? PositiveZero.WithSign(a.IsNegative) : PositiveInfinity.WithSign(a.IsNegative);
        }
        if (DenormalFaults(a, b, cw, ref st))
            return a;
        if (a.IsZero || a.IsInfinity)
            return a;
        int n = 0;
        if (!b.IsZero)
        {
            b.Unpack(out bool sb, out int eb, out ulong mb);
            // Scales beyond ±2^20 over- or underflow any operand; clamping keeps the exponent arithmetic in int.
            long mag = eb < 0 ? 0 : eb > 20 ? 1L << 21 : (long)(mb >> (63 - eb));
            n = (int)(sb ? -mag : mag);
        }
        a.Unpack(out bool sa, out int ea, out ulong ma);
        return RoundToExtended(sa, ea + n, (UInt128)ma << 64, 64, cw, ref st);
    }

    /// <summary>
    /// FXTRACT: returns the significand (exponent forced to 0, sign kept) and the unbiased exponent as a value;
    /// ±0 raises ZE and gives exponent -inf (SDM Vol. 2 FXTRACT). The caller replaces ST(0) by the exponent and
    /// pushes the significand.
    /// </summary>
    public static Float80 Extract(Float80 a, X87Control cw, ref X87Status st, out Float80 exponent)
    {
        st &= ~X87Status.C1;
        if (a.IsUnsupported || a.IsNaN)
        {
            Float80 r = a.IsUnsupported ? Invalid(ref st) : PropagateNaN(a, a, ref st);
            exponent = r;
            return r;
        }
        if (a.IsZero)
        {
            st |= X87Status.ZeroDivide;
            exponent = NegativeInfinity;
            return a;
        }
        if (a.IsInfinity)
        {
            exponent = PositiveInfinity;
            return a;
        }
        if (DenormalFaults(a, a, cw, ref st))
        {
            exponent = a;
            return a;
        }
        a.Unpack(out bool s, out int e, out ulong m);
        exponent = FromInt64(e);
        return new Float80(s, ExponentBias, m);
    }

    /// <summary>FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ.</summary>
    public enum Constant
    {
        One,
        Log2Ten,
        Log2E,
        Pi,
        Log10Two,
        LnTwo,
        Zero,
    }

    /// <summary>
    /// The FLDxx constants, rounded from their 128-bit values under RC (SDM Vol. 1 §8.3.8: they are held with more
    /// than 64 bits and rounded as RC says; PC does not apply). They raise no exception and leave C1 clear.
    /// </summary>
    public static Float80 LoadConstant(Constant c, X87Control cw)
    {
        (int exp, UInt128 sig) = c switch
        {
            Constant.One => (0, (UInt128)1 << 127),
            Constant.Log2Ten => (1, new UInt128(0xd49a784bcd1b8afe, 0x492bf6ff4dafdb4c)),
            Constant.Log2E => (0, new UInt128(0xb8aa3b295c17f0bb, 0xbe87fed0691d3e88)),
            Constant.Pi => (1, PiSignificand),
            Constant.Log10Two => (-2, new UInt128(0x9a209a84fbcff798, 0x8f8959ac0b7c9178)),
            Constant.LnTwo => (-1, LnTwoSignificand),
            _ => (0, UInt128.Zero),
        };
        if (sig == 0)
            return PositiveZero;
        X87Status ignored = X87Status.None;
        return RoundToExtended(false, exp, sig, 64, cw, ref ignored);
    }

    internal static readonly UInt128 PiSignificand = new(0xc90fdaa22168c234, 0xc4c6628b80dc1cd1);
    internal static readonly UInt128 LnTwoSignificand = new(0xb17217f7d1cf79ab, 0xc9e3b39803f2f6af);
}
