using System.Numerics;

namespace Hypervisor.BinaryTranslation.X87;

/// <summary>
/// FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1. Each is evaluated in BigInteger arithmetic with a
/// 320-bit fixed-point working precision (Taylor/atanh/atan series after argument reduction), so the value handed
/// to the single final rounding is accurate to far more than 64 bits and the result is the correctly rounded one
/// under RC (PC does not apply, SDM §8.1.5.2). Real x87 hardware is only specified to within 1 ulp
/// (SDM §8.3.10), so results may differ from a given CPU in the last bit: against this host 89% (FPTAN) to 99.6%
/// (FCOS) of 100k random operands are bit-exact and all are within 1 ulp (X87TranscendentalTests prints them).
/// FSIN/FCOS/FSINCOS/FPTAN reduce by pi/2 truncated to 66 bits like the hardware (SDM §8.3.10 "the FPU uses a
/// 66-bit approximation of pi"): with an exact pi, large arguments (|x| &gt; 2^20) disagree with the host in many
/// bits. Operands beyond ±2^63 set C2 and are left unchanged (SDM Vol. 2 FSIN). Special operands follow the SDM
/// table of each instruction.
/// </summary>
public readonly partial struct Float80
{
    private const int W = 320;
    private static readonly BigInteger FixedOne = BigInteger.One << W;
    private static readonly BigInteger Pi400 = ComputePi(400);
    private static readonly BigInteger PiHalfW = Pi400 >> (400 - W + 1);

    /// <summary>pi/2 truncated to 66 significant bits, the reduction constant of the hardware (SDM Vol. 1 §8.3.10).</summary>
    private static readonly BigInteger PiHalf66W = (Pi400 >> (400 - 64)) << (W - 65);
    private static readonly BigInteger Ln2W = 2 * AtanhInverse(3, W + 8) >> 8;
    private static readonly BigInteger Log2EW = (FixedOne << W) / Ln2W;

    /// <summary>value = M * 2^E.</summary>
    private readonly record struct Big(BigInteger M, int E)
    {
        public static Big Of(Float80 x)
        {
            x.Unpack(out bool s, out int e, out ulong m);
            return new Big(s ? -(BigInteger)m : m, e - 63);
        }

        public Big Trim()
        {
            long len = BigInteger.Abs(M).GetBitLength();
            return len <= 480 ? this : new Big(M >> (int)(len - 480), E + (int)(len - 480));
        }

        public static Big operator *(Big a, Big b) => new Big(a.M * b.M, a.E + b.E).Trim();

        public static Big operator /(Big a, Big b)
        {
            int sh = 400 + (int)Math.Max(0, BigInteger.Abs(b.M).GetBitLength() - BigInteger.Abs(a.M).GetBitLength());
            return new Big((a.M << sh) / b.M, a.E - b.E - sh).Trim();
        }

        public static Big operator +(Big a, Big b)
        {
            if (a.M.IsZero) return b;
            if (b.M.IsZero) return a;
            int e = Math.Min(a.E, b.E);
            return new Big((a.M << (a.E - e)) + (b.M << (b.E - e)), e).Trim();
        }

        public static Big operator -(Big a) => new(-a.M, a.E);

        /// <summary>Fixed point with W fractional bits (truncated towards zero).</summary>
        public BigInteger ToFixed()
        {
            int sh = E + W;
            if (sh >= 0)
                return M << sh;
            return sh < -100000 ? BigInteger.Zero : M.Sign < 0 ? -((-M) >> -sh) : M >> -sh;
        }

        public static Big Fixed(BigInteger f) => new(f, -W);
    }

    private static BigInteger AtanhInverse(int n, int bits)
    {
        // atanh(1/n) = sum 1/((2k+1) n^(2k+1)), fixed point with `bits` fractional bits.
        BigInteger term = (BigInteger.One << bits) / n, sum = 0, n2 = n * n;
        for (int k = 0; !term.IsZero; k++, term /= n2)
            sum += term / (2 * k + 1);
        return sum;
    }

    private static BigInteger ComputePi(int bits)
    {
        // Machin: pi = 16 atan(1/5) - 4 atan(1/239), with 16 guard bits.
        int b = bits + 16;
        BigInteger Atan(int n)
        {
            BigInteger term = (BigInteger.One << b) / n, sum = 0, n2 = n * n;
            for (int k = 0; !term.IsZero; k++, term /= n2)
                sum += (k & 1) == 0 ? term / (2 * k + 1) : -(term / (2 * k + 1));
            return sum;
        }
        return (16 * Atan(5) - 4 * Atan(239)) >> 16;
    }

    /// <summary>Series in t (fixed point): sum sign^k t^k / den(k) with den(k) from <paramref name="den"/>.</summary>
    private static BigInteger Series(BigInteger t, bool alternate, Func<int, BigInteger, BigInteger> nextTerm)
    {
        BigInteger term = FixedOne, sum = 0;
        for (int k = 0; !term.IsZero && k < 400; k++)
        {
            sum += alternate && (k & 1) == 1 ? -term : term;
            term = nextTerm(k, term * t >> W);
        }
        return sum;
    }

    // sin r / r, cos r, atan s / s, atanh s / s as series in t = r^2 (SDM-independent textbook expansions).
    private static BigInteger SinOverX(BigInteger t) => Series(t, true, (k, v) => v / ((2 * k + 2) * (2 * k + 3)));
    private static BigInteger CosSeries(BigInteger t) => Series(t, true, (k, v) => v / ((2 * k + 1) * (2 * k + 2)));
    private static BigInteger AtanOverX(BigInteger t) => OddReciprocalSeries(t, true);
    private static BigInteger AtanhOverX(BigInteger t) => OddReciprocalSeries(t, false);

    private static BigInteger OddReciprocalSeries(BigInteger t, bool alternate)
    {
        BigInteger power = FixedOne, sum = 0;
        for (int k = 0; !power.IsZero && k < 2000; k++, power = power * t >> W)
            sum += alternate && (k & 1) == 1 ? -(power / (2 * k + 1)) : power / (2 * k + 1);
        return sum;
    }

    /// <summary>
    /// Rounds an approximation (or, with tail 0, an exact value). tail = -1/+1 says the true magnitude lies just
    /// below/above |M|*2^E, which matters only when the approximation sits on a 64-bit boundary (tiny arguments).
    /// </summary>
    private static Float80 RoundBig(Big v, int tail, X87Control cw, ref X87Status st)
    {
        bool neg = v.M.Sign < 0;
        BigInteger m = BigInteger.Abs(v.M);
        if (m.IsZero)
            return PositiveZero.WithSign(neg);
        m = (m << 1) + tail;
        int e = v.E - 1;
        long len = m.GetBitLength();
        UInt128 sig;
        if (len > 128)
        {
            int sh = (int)(len - 128);
            bool sticky = !(m & ((BigInteger.One << sh) - 1)).IsZero;
            sig = (UInt128)(m >> sh) | (sticky ? UInt128.One : UInt128.Zero);
        }
        else
        {
            sig = (UInt128)m << (int)(128 - len);
        }
        return RoundToExtended(neg, (int)(e + len - 1), sig, 64, cw, ref st);
    }

    private static bool SingleOperandSpecial(Float80 x, X87Control cw, ref X87Status st, out Float80 result)
    {
        if (InvalidOperands(x, x, ref st, out result))
        {
            if (x.IsNaN)
                result = x.Quieted();
            return true;
        }
        return false;
    }

    /// <summary>Reduces |x| &lt; 2^63 by pi/2: |x| = q*pi/2 + r, |r| &lt;= pi/4.</summary>
    private static (int Quadrant, Big R) ReducePiHalf(Float80 x)
    {
        Big a = Big.Of(x.Abs());
        if (a.E + W < 0)
            return (0, a);
        BigInteger X = a.M << (a.E + W);
        BigInteger p = PiHalf66W;
        BigInteger k = (X + (p >> 1)) / p;
        return ((int)(k & 3), Big.Fixed(X - k * p));
    }

    /// <summary>Common start of FSIN/FCOS/FSINCOS/FPTAN: specials, out-of-range (C2), DE. Null means "compute".</summary>
    private static bool TrigSpecial(Float80 x, X87Control cw, ref X87Status st, out Float80 result)
    {
        st &= ~(X87Status.C1 | X87Status.C2);
        if (SingleOperandSpecial(x, cw, ref st, out result))
            return true;
        if (x.IsInfinity)
        {
            result = Invalid(ref st);
            return true;
        }
        if (x.BiasedExponent >= ExponentBias + 63)
        {
            st |= X87Status.C2;
            result = x;
            return true;
        }
        if (DenormalFaults(x, x, cw, ref st))
        {
            result = x;
            return true;
        }
        return false;
    }

    private static void SinCosOfReduced(Big r, out Big sin, out Big cos)
    {
        BigInteger t = (r * r).ToFixed();
        sin = r * Big.Fixed(SinOverX(t));
        cos = Big.Fixed(CosSeries(t));
    }

    public static Float80 Sin(Float80 x, X87Control cw, ref X87Status st)
    {
        if (TrigSpecial(x, cw, ref st, out Float80 special))
            return special;
        if (x.IsZero)
            return x;
        SinCos(x, out Big s, out _);
        return RoundBig(s, -1, cw, ref st);
    }

    public static Float80 Cos(Float80 x, X87Control cw, ref X87Status st)
    {
        if (TrigSpecial(x, cw, ref st, out Float80 special))
            return special;
        if (x.IsZero)
            return One;
        SinCos(x, out _, out Big c);
        return RoundBig(c, -1, cw, ref st);
    }

    /// <summary>FSINCOS: returns sin(x) (replaces ST(0)) and cos(x) (pushed); with C2 set both are x, unchanged.</summary>
    public static Float80 SinCos(Float80 x, X87Control cw, ref X87Status st, out Float80 cos)
    {
        if (TrigSpecial(x, cw, ref st, out Float80 special))
        {
            cos = special;
            return special;
        }
        if (x.IsZero)
        {
            cos = One;
            return x;
        }
        SinCos(x, out Big s, out Big c);
        X87Status st2 = st;
        cos = RoundBig(c, -1, cw, ref st2);
        Float80 sin = RoundBig(s, -1, cw, ref st);
        // C1 reflects the rounding of the value left in ST(0) after the push, the cosine.
        st = (st & ~X87Status.C1) | st2;
        return sin;
    }

    /// <summary>FPTAN: returns tan(x) for ST(0); the caller then pushes 1.0 unless C2 is set (SDM Vol. 2 FPTAN).</summary>
    public static Float80 Tan(Float80 x, X87Control cw, ref X87Status st)
    {
        if (TrigSpecial(x, cw, ref st, out Float80 special))
            return special;
        if (x.IsZero)
            return x;
        (int q, Big r) = ReducePiHalf(x);
        SinCosOfReduced(r, out Big s, out Big c);
        Big t = (q & 1) == 0 ? s / c : -(c / s);
        if (x.IsNegative)
            t = -t;
        return RoundBig(t, (q & 1) == 0 ? 1 : -1, cw, ref st);
    }

    private static void SinCos(Float80 x, out Big sin, out Big cos)
    {
        (int q, Big r) = ReducePiHalf(x);
        SinCosOfReduced(r, out Big s, out Big c);
        (sin, cos) = q switch
        {
            0 => (s, c),
            1 => (c, -s),
            2 => (-s, -c),
            _ => (-c, s),
        };
        if (x.IsNegative)
            sin = -sin;
    }

    /// <summary>FPATAN: arctan(ST(1)/ST(0)) with the quadrant of (x = ST(0), y = ST(1)) as C's atan2 (SDM Vol. 2 FPATAN Table 3-29).</summary>
    public static Float80 PartialArctangent(Float80 st0, Float80 st1, X87Control cw, ref X87Status st)
    {
        st &= ~X87Status.C1;
        Float80 x = st0, y = st1;
        if (InvalidOperands(y, x, ref st, out Float80 special))
            return special;
        if (DenormalFaults(x, y, cw, ref st))
            return st0;
        Big piHalf = Big.Fixed(PiHalfW);
        Big pi = Big.Fixed(PiHalfW << 1);
        Big angle;
        int tail = 1;
        if (y.IsZero)
        {
            if (!x.IsNegative)
                return y;
            angle = pi;
        }
        else if (x.IsZero || (y.IsInfinity && !x.IsInfinity))
            angle = piHalf;
        else if (x.IsInfinity)
        {
            if (y.IsInfinity)
                angle = x.IsNegative ? Big.Fixed(3 * PiHalfW >> 1) : Big.Fixed(PiHalfW >> 1);
            else if (!x.IsNegative)
                return PositiveZero.WithSign(y.IsNegative);
            else
                angle = pi;
        }
        else
        {
            Big ax = Big.Of(x.Abs()), ay = Big.Of(y.Abs());
            bool swap = CompareMagnitude(y, x) > 0;
            Big ratio = swap ? ax / ay : ay / ax;
            Big at = Atan(ratio, out bool exactRatioPath);
            if (swap)
                angle = piHalf + -at;
            else
            {
                angle = at;
                tail = exactRatioPath ? -1 : 1;
            }
            if (x.IsNegative)
            {
                angle = pi + -angle;
                tail = 1;
            }
        }
        if (y.IsNegative)
            angle = -angle;
        return RoundBig(angle, tail, cw, ref st);
    }

    /// <summary>atan of a ratio in (0, 1]: argument halving (atan t = 2 atan(t / (1 + sqrt(1 + t^2)))) then the series.</summary>
    private static Big Atan(Big ratio, out bool direct)
    {
        BigInteger t = ratio.ToFixed();
        direct = t < (FixedOne >> 5);
        if (direct)
            return ratio * Big.Fixed(AtanOverX((ratio * ratio).ToFixed()));
        int halvings = 0;
        while (t >= FixedOne >> 5)
        {
            BigInteger root = ISqrtBig((FixedOne + (t * t >> W)) << W);
            t = (t << W) / (FixedOne + root);
            halvings++;
        }
        Big r = Big.Fixed(t);
        Big a = r * Big.Fixed(AtanOverX(t * t >> W));
        return new Big(a.M, a.E + halvings);
    }

    private static BigInteger ISqrtBig(BigInteger n)
    {
        if (n.IsZero)
            return n;
        BigInteger r = BigInteger.One << (int)((n.GetBitLength() + 1) / 2);
        while (true)
        {
            BigInteger y = (r + n / r) >> 1;
            if (y >= r)
                return r;
            r = y;
        }
    }

    /// <summary>
    /// F2XM1: 2^x - 1 as expm1(x ln 2) by its series. The SDM defines it for -1 &lt;= x &lt;= +1; this evaluates
    /// |x| &lt; 2 the same way and answers IE with the indefinite beyond (the hardware result there is undefined).
    /// </summary>
    public static Float80 TwoToXMinusOne(Float80 x, X87Control cw, ref X87Status st)
    {
        st &= ~X87Status.C1;
        if (SingleOperandSpecial(x, cw, ref st, out Float80 special))
            return special;
        if (x.IsInfinity)
            return x.IsNegative ? One.Negate() : x;
        if (x.IsZero)
            return x;
        if (DenormalFaults(x, x, cw, ref st))
            return x;
        if (x.BiasedExponent > ExponentBias)
            return Invalid(ref st);
        if (x.Significand == IntegerBit && x.BiasedExponent == ExponentBias)
        {
            // Exact (2^-1 - 1, 2^1 - 1), but the host reports PE as for any other operand.
            st |= X87Status.Precision;
            return x.IsNegative ? new Float80(true, ExponentBias - 1, IntegerBit) : One;
        }
        Big u = Big.Of(x) * Big.Fixed(Ln2W);
        BigInteger uf = u.ToFixed();
        BigInteger e = Series(uf, false, (k, v) => v / (k + 2));
        return RoundBig(u * Big.Fixed(e), 1, cw, ref st);
    }

    /// <summary>
    /// FYL2X: ST(1) * log2(ST(0)), special cases by SDM Vol. 2 FYL2X Table 3-50 (negative x invalid, ±0 gives ZE
    /// with an infinity, 1 * ±inf invalid). log2 of a power of two is exact, so those products round exactly.
    /// </summary>
    public static Float80 Log2Multiply(Float80 st0, Float80 st1, X87Control cw, ref X87Status st)
    {
        st &= ~X87Status.C1;
        Float80 x = st0, y = st1;
        if (InvalidOperands(x, y, ref st, out Float80 special))
            return special;
        if (x.IsNegative && !x.IsZero)
            return Invalid(ref st);
        bool xIsOne = x == One;
        bool logNegative = !x.IsInfinity && !xIsOne && x.BiasedExponent < ExponentBias;
        if (x.IsZero)
        {
            if (y.IsZero)
                return Invalid(ref st);
            // A denormal ST(1) is not reported next to a zero ST(0) (host behaviour).
            if (!y.IsInfinity)
                st |= X87Status.ZeroDivide;
            return PositiveInfinity.WithSign(!y.IsNegative);
        }
        if (x.IsInfinity)
        {
            if (y.IsZero)
                return Invalid(ref st);
            if (DenormalFaults(x, y, cw, ref st))
                return st0;
            return PositiveInfinity.WithSign(y.IsNegative);
        }
        if (y.IsInfinity)
        {
            if (xIsOne)
                return Invalid(ref st);
            if (DenormalFaults(x, y, cw, ref st))
                return st0;
            return PositiveInfinity.WithSign(y.IsNegative != logNegative);
        }
        if (DenormalFaults(x, y, cw, ref st))
            return st0;
        if (y.IsZero || xIsOne)
            return PositiveZero.WithSign(y.IsNegative != logNegative);

        x.Unpack(out _, out int ex, out ulong mx);
        Big log;
        int tail = 1;
        if (mx == IntegerBit)
        {
            log = new Big(ex, 0);
            tail = 0;
        }
        else
        {
            // m in [sqrt(2)/2, sqrt(2)) keeps log2(m) small and avoids cancellation against the exponent.
            BigInteger m = mx, half = BigInteger.One << 63;
            if (mx > 0xB504_F333_F9DE_6484)
            {
                half <<= 1;
                ex++;
            }
            Big s = new Big(m - half, 0) / new Big(m + half, 0);
            Big lnm = s * Big.Fixed(AtanhOverX((s * s).ToFixed()));
            log = new Big(ex, 0) + new Big(lnm.M, lnm.E + 1) * Big.Fixed(Log2EW);
        }
        Float80 r = RoundBig(Big.Of(y) * log, tail, cw, ref st);
        if (tail == 0)
        {
            // The host evaluates log2 of a power of two like any other operand: PE (and UE for a tiny result)
            // are reported although the product is exact.
            st |= X87Status.Precision;
            if (r.BiasedExponent == 0)
                st |= X87Status.Underflow;
        }
        return r;
    }

    /// <summary>
    /// FYL2XP1: ST(1) * log2(ST(0) + 1), defined for |ST(0)| &lt; 1 - sqrt(2)/2 (SDM Vol. 2 FYL2XP1); evaluated the
    /// same way for any ST(0) &gt; -1, IE with the indefinite at or below -1 (undefined on hardware).
    /// </summary>
    public static Float80 Log2PlusOneMultiply(Float80 st0, Float80 st1, X87Control cw, ref X87Status st)
    {
        st &= ~X87Status.C1;
        Float80 x = st0, y = st1;
        if (InvalidOperands(x, y, ref st, out Float80 special))
            return special;
        if (x.IsInfinity || (x.IsNegative && !x.IsZero && x.BiasedExponent >= ExponentBias))
            return Invalid(ref st);
        if (x.IsZero)
        {
            if (y.IsInfinity)
                return Invalid(ref st);
            if (DenormalFaults(x, y, cw, ref st))
                return st0;
            return PositiveZero.WithSign(x.IsNegative != y.IsNegative);
        }
        if (DenormalFaults(x, y, cw, ref st))
            return st0;
        if (y.IsInfinity)
            return PositiveInfinity.WithSign(x.IsNegative != y.IsNegative);
        if (y.IsZero)
            return PositiveZero.WithSign(x.IsNegative != y.IsNegative);
        // ln(1 + x) = 2 atanh(x / (2 + x)).
        Big bx = Big.Of(x);
        Big s = bx / (new Big(2, 0) + bx);
        Big ln = s * Big.Fixed(AtanhOverX((s * s).ToFixed()));
        Big log2 = new Big(ln.M, ln.E + 1) * Big.Fixed(Log2EW);
        return RoundBig(Big.Of(y) * log2, 1, cw, ref st);
    }
}
