namespace Hypervisor.BinaryTranslation.X87;

/// <summary>FADD/FSUB/FMUL/FDIV/FSQRT: exact operation on 128-bit integers, then one rounding (RoundCore).</summary>
public readonly partial struct Float80
{
    /// <summary>
    /// SDM Vol. 1 §4.8.3.5 Table 4-7 (x87 column): an SNaN is quieted and raises IE; an SNaN and a QNaN give the
    /// QNaN; two NaNs of the same kind give the one with the larger significand (the positive one on a tie).
    /// </summary>
    internal static Float80 PropagateNaN(Float80 a, Float80 b, ref X87Status st)
    {
        bool aNaN = a.IsNaN, bNaN = b.IsNaN;
        bool aS = a.IsSignalingNaN, bS = b.IsSignalingNaN;
        if (aS || bS)
            st |= X87Status.Invalid;
        if (!bNaN)
            return a.Quieted();
        if (!aNaN)
            return b.Quieted();
        if (aS != bS)
            return (aS ? b : a).Quieted();
        ulong ma = a.Significand & ~IntegerBit, mb = b.Significand & ~IntegerBit;
        if (ma != mb)
            return (ma > mb ? a : b).Quieted();
        return (a.SignExponent <= b.SignExponent ? a : b).Quieted();
    }

    /// <summary>
    /// The checks every two-operand arithmetic instruction makes before computing (SDM §8.5.1, Table 8-10):
    /// unsupported encodings answer the indefinite, NaNs propagate. Returns true when <paramref name="result"/> is final.
    /// </summary>
    private static bool InvalidOperands(Float80 a, Float80 b, ref X87Status st, out Float80 result)
    {
        if (a.IsUnsupported || b.IsUnsupported)
        {
            st |= X87Status.Invalid;
            result = Indefinite;
            return true;
        }
        if (a.IsNaN || b.IsNaN)
        {
            result = PropagateNaN(a, b, ref st);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>Raises DE for (pseudo-)denormal operands; true when DE is unmasked so the instruction faults (§8.5.2).</summary>
    private static bool DenormalFaults(Float80 a, Float80 b, X87Control cw, ref X87Status st, bool denormalSource = false)
    {
        if (!a.IsDenormal && !b.IsDenormal && !denormalSource)
            return false;
        st |= X87Status.Denormal;
        return !cw.IsMasked(X87Status.Denormal);
    }

    private static Float80 Invalid(ref X87Status st)
    {
        st |= X87Status.Invalid;
        return Indefinite;
    }

    /// <summary>A zero with the sign IEEE 754 §6.3 gives exact sums of opposite signs: -0 only when rounding down.</summary>
    private static Float80 ExactZeroSum(X87Control cw) => cw.Rounding == X87Rounding.Down ? NegativeZero : PositiveZero;

    /// <summary>Rounds a finite operand to the PC precision, as x87 arithmetic does with a zero other operand.</summary>
    private static Float80 RoundOperand(Float80 x, int precision, X87Control cw, ref X87Status st)
    {
        if (x.IsZero)
            return x;
        x.Unpack(out bool s, out int e, out ulong m);
        return RoundToExtended(s, e, (UInt128)m << 64, precision, cw, ref st);
    }

    // The optional denormalSource flag of the four basic operations is for m32/m64 operands widened by
    // WidenFloat32/WidenFloat64 from a denormal: it raises DE exactly where a denormal register operand would
    // (after the NaN checks, which suppress it), as FADD m32 etc. do on the host.

    public static Float80 Add(Float80 a, Float80 b, X87Control cw, ref X87Status st, bool denormalSource = false) =>
        AddSub(a, b, false, cw, ref st, denormalSource);

    public static Float80 Subtract(Float80 a, Float80 b, X87Control cw, ref X87Status st, bool denormalSource = false) =>
        AddSub(a, b, true, cw, ref st, denormalSource);

    private static Float80 AddSub(Float80 a, Float80 b, bool subtract, X87Control cw, ref X87Status st, bool ds)
    {
        st &= ~X87Status.C1;
        if (InvalidOperands(a, b, ref st, out Float80 special))
            return special;
        if (subtract)
            b = b.Negate();
        if (a.IsInfinity || b.IsInfinity)
        {
            if (a.IsInfinity && b.IsInfinity && a.IsNegative != b.IsNegative)
                return Invalid(ref st);
            if (DenormalFaults(a, b, cw, ref st, ds))
                return a;
            return a.IsInfinity ? a : b;
        }
        if (DenormalFaults(a, b, cw, ref st, ds))
            return a;
        int p = cw.SignificandBits;
        if (a.IsZero && b.IsZero)
            return a.IsNegative == b.IsNegative ? a : ExactZeroSum(cw);
        if (a.IsZero)
            return RoundOperand(b, p, cw, ref st);
        if (b.IsZero)
            return RoundOperand(a, p, cw, ref st);

        a.Unpack(out bool sa, out int ea, out ulong ma);
        b.Unpack(out bool sb, out int eb, out ulong mb);
        if (ea < eb || (ea == eb && ma < mb))
        {
            (sa, sb) = (sb, sa);
            (ea, eb) = (eb, ea);
            (ma, mb) = (mb, ma);
        }
        // Leading bit at 126 leaves a carry bit; 63 guard bits below keep the jammed alignment exact enough.
        UInt128 big = (UInt128)ma << 63;
        UInt128 small = ShiftRightJam((UInt128)mb << 63, ea - eb);
        UInt128 r = sa == sb ? big + small : big - small;
        if (r == 0)
            return ExactZeroSum(cw);
        return NormalizeRound(sa, ea + 1, r, p, cw, ref st);
    }

    public static Float80 Multiply(Float80 a, Float80 b, X87Control cw, ref X87Status st, bool denormalSource = false)
    {
        bool ds = denormalSource;
        st &= ~X87Status.C1;
        if (InvalidOperands(a, b, ref st, out Float80 special))
            return special;
        bool sign = a.IsNegative != b.IsNegative;
        if (a.IsInfinity || b.IsInfinity)
        {
            if (a.IsZero || b.IsZero)
                return Invalid(ref st);
            if (DenormalFaults(a, b, cw, ref st, ds))
                return a;
            return PositiveInfinity.WithSign(sign);
        }
        if (DenormalFaults(a, b, cw, ref st, ds))
            return a;
        if (a.IsZero || b.IsZero)
            return PositiveZero.WithSign(sign);
        a.Unpack(out _, out int ea, out ulong ma);
        b.Unpack(out _, out int eb, out ulong mb);
        UInt128 prod = (UInt128)ma * mb;
        return NormalizeRound(sign, ea + eb + 1, prod, cw.SignificandBits, cw, ref st);
    }

    public static Float80 Divide(Float80 a, Float80 b, X87Control cw, ref X87Status st, bool denormalSource = false)
    {
        bool ds = denormalSource;
        st &= ~X87Status.C1;
        if (InvalidOperands(a, b, ref st, out Float80 special))
            return special;
        bool sign = a.IsNegative != b.IsNegative;
        if (a.IsInfinity)
        {
            if (b.IsInfinity)
                return Invalid(ref st);
            if (DenormalFaults(a, b, cw, ref st, ds))
                return a;
            return PositiveInfinity.WithSign(sign);
        }
        if (b.IsInfinity)
        {
            if (DenormalFaults(a, b, cw, ref st, ds))
                return a;
            return PositiveZero.WithSign(sign);
        }
        if (b.IsZero)
        {
            if (a.IsZero)
                return Invalid(ref st);
            // §4.9.1.3: finite non-zero / 0 raises ZE; the masked response is a correctly signed infinity. The
            // host reports ZE alone for a denormal dividend, so the zero divisor is detected before DE.
            st |= X87Status.ZeroDivide;
            return PositiveInfinity.WithSign(sign);
        }
        if (DenormalFaults(a, b, cw, ref st, ds))
            return a;
        if (a.IsZero)
            return PositiveZero.WithSign(sign);
        a.Unpack(out _, out int ea, out ulong ma);
        b.Unpack(out _, out int eb, out ulong mb);
        // floor(ma * 2^126 / mb) in two 64-bit-divisor steps; the final remainder is jammed as sticky.
        UInt128 n1 = (UInt128)ma << 64;
        UInt128 q1 = n1 / mb;
        UInt128 r1 = n1 - q1 * mb;
        UInt128 n2 = r1 << 62;
        UInt128 q2 = n2 / mb;
        UInt128 r2 = n2 - q2 * mb;
        UInt128 q = (q1 << 62) | q2 | (r2 != 0 ? UInt128.One : UInt128.Zero);
        return NormalizeRound(sign, ea - eb + 1, q, cw.SignificandBits, cw, ref st);
    }

    public static Float80 Sqrt(Float80 a, X87Control cw, ref X87Status st)
    {
        st &= ~X87Status.C1;
        if (InvalidOperands(a, a, ref st, out Float80 special))
            return a.IsNaN ? a.Quieted() : special;
        if (a.IsZero)
            return a;
        if (a.IsNegative)
            return Invalid(ref st);
        if (a.IsInfinity)
            return a;
        if (DenormalFaults(a, a, cw, ref st))
            return a;
        a.Unpack(out _, out int ea, out ulong ma);
        // value = N * 2^k with k even and N in [2^126, 2^128), so sqrt = isqrt(N) * 2^(k/2) with a 64-bit root.
        int e = ea - 63;
        UInt128 n;
        int k;
        if (((e - 64) & 1) == 0)
        {
            n = (UInt128)ma << 64;
            k = e - 64;
        }
        else
        {
            n = (UInt128)ma << 63;
            k = e - 63;
        }
        UInt128 root = ISqrt(n);
        UInt128 rem = n - root * root;
        // The root's next bit is 1 iff (r + 1/2)^2 < N, i.e. r^2 + r < N; it can never be an exact half.
        bool half = rem > root;
        UInt128 sig = (root << 64) | (half ? (UInt128)1 << 63 : 0) | (rem != 0 ? UInt128.One : UInt128.Zero);
        return RoundToExtended(false, k / 2 + 63, sig, cw.SignificandBits, cw, ref st);
    }

    /// <summary>floor(sqrt(n)) by Newton's method from an overestimate (monotone decreasing to the floor).</summary>
    internal static UInt128 ISqrt(UInt128 n)
    {
        if (n == 0)
            return 0;
        UInt128 r = (UInt128)Math.Sqrt((double)n) + ((UInt128)1 << 16) + 1;
        while (true)
        {
            UInt128 y = (r + n / r) >> 1;
            if (y >= r)
                return r;
            r = y;
        }
    }
}
