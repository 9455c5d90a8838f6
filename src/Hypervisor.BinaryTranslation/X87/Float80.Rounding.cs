using System.Numerics;

namespace Hypervisor.BinaryTranslation.X87;

/// <summary>A rounded finite or infinite magnitude: Sig has the integer bit in bit 63 unless it is a denormal/zero.</summary>
internal readonly record struct Rounded(ulong Sig, int Exp, bool Infinity, bool Stored);

/// <summary>Destination format parameters for the single rounding step (SDM Vol. 1 §4.2.2 Table 4-3).</summary>
internal readonly record struct RoundFormat(int Precision, int EMin, int EMax, int BiasAdjust, bool RegisterDestination)
{
    public static RoundFormat Extended(int precision) => new(precision, -16382, 16383, 24576, true);

    /// <summary>FST/FSTP m64: memory destinations are not written on unmasked OE/UE (SDM §4.9.1.4-5).</summary>
    public static readonly RoundFormat Double = new(53, -1022, 1023, 1536, false);

    public static readonly RoundFormat Single = new(24, -126, 127, 192, false);
}

public readonly partial struct Float80
{
    /// <summary>
    /// IEEE 754 allows tininess detection before or after rounding; the x87 detects it after rounding to the
    /// destination precision with an unbounded exponent (what the host FPU does; SDM §4.9.1.5 leaves the choice to
    /// the implementation).
    /// </summary>
    private const bool TininessAfterRounding = true;

    internal static UInt128 ShiftRightJam(UInt128 v, int count)
    {
        if (count <= 0)
            return v;
        if (count >= 128)
            return v != 0 ? UInt128.One : UInt128.Zero;
        UInt128 lost = v & ((UInt128.One << count) - 1);
        return (v >> count) | (lost != 0 ? UInt128.One : UInt128.Zero);
    }

    private static bool RoundsUp(bool negative, X87Rounding rc, UInt128 rem, UInt128 half, bool odd) => rc switch
    {
        X87Rounding.NearestEven => rem > half || (rem == half && odd),
        X87Rounding.Down => negative && rem != 0,
        X87Rounding.Up => !negative && rem != 0,
        _ => false,
    };

    /// <summary>
    /// Rounds value = sig * 2^(exp - 127) (sig normalized to bit 127, sticky bits jammed into bit 0) to the format,
    /// raising PE/UE/OE and assigning C1 = "rounded up" as the x87 does (SDM §4.9.1.4-6, §8.1.3.1, §8.5.4-6).
    /// </summary>
    internal static Rounded RoundCore(bool negative, int exp, UInt128 sig, RoundFormat f, X87Rounding rc, X87Control cw, ref X87Status st)
    {
        int p = f.Precision;
        int shift = 128 - p;
        UInt128 mask = (UInt128.One << shift) - 1;
        UInt128 half = UInt128.One << (shift - 1);
        ulong top = p == 64 ? ulong.MaxValue : (1UL << p) - 1;
        st &= ~X87Status.C1;

        ulong kept = (ulong)(sig >> shift);
        UInt128 rem = sig & mask;
        bool up = RoundsUp(negative, rc, rem, half, (kept & 1) != 0);

        if (exp < f.EMin)
        {
            bool carriesToNormal = exp == f.EMin - 1 && up && kept == top;
            bool tiny = !TininessAfterRounding || !carriesToNormal;
            if (tiny)
            {
                // §8.5.5: unmasked underflow is reported even for exact results; a register destination receives
                // the result with its exponent biased up by 24576, a memory destination is left untouched. A result
                // still tiny after the rebias (only FSCALE gets there) becomes a signed zero, whatever RC says (host).
                if (!cw.IsMasked(X87Status.Underflow) && f.RegisterDestination && exp + f.BiasAdjust < f.EMin)
                {
                    st |= X87Status.Underflow | X87Status.Precision;
                    return new Rounded(0, f.EMin, false, true);
                }
                if (!cw.IsMasked(X87Status.Underflow))
                {
                    st |= X87Status.Underflow;
                    if (!f.RegisterDestination)
                        return new Rounded(0, 0, false, false);
                    exp += f.BiasAdjust;
                }
                else
                {
                    UInt128 d = ShiftRightJam(sig, f.EMin - exp);
                    kept = (ulong)(d >> shift);
                    rem = d & mask;
                    up = RoundsUp(negative, rc, rem, half, (kept & 1) != 0);
                    // §4.9.1.5: with underflow masked, UE is only signalled when the tiny result is also inexact.
                    if (rem != 0)
                        st |= X87Status.Underflow | X87Status.Precision;
                    if (up)
                    {
                        kept++;
                        st |= X87Status.C1;
                    }
                    return new Rounded(kept << (64 - p), f.EMin, false, true);
                }
            }
        }

        if (up)
        {
            if (kept == top)
            {
                kept = 1UL << (p - 1);
                exp++;
            }
            else
            {
                kept++;
            }
        }

        if (exp > f.EMax)
        {
            st |= X87Status.Overflow;
            if (!cw.IsMasked(X87Status.Overflow) && f.RegisterDestination && exp - f.BiasAdjust > f.EMax)
            {
                // Still too large after the rebias (FSCALE): infinity whatever RC says, as the host does.
                st |= X87Status.Precision | X87Status.C1;
                return new Rounded(IntegerBit, f.EMax + 1, true, true);
            }
            if (!cw.IsMasked(X87Status.Overflow))
            {
                if (!f.RegisterDestination)
                    return new Rounded(0, 0, false, false);
                exp -= f.BiasAdjust;
            }
            else
            {
                // §4.9.1.4 Table 4-10: masked overflow answers infinity or the largest finite value by direction.
                st |= X87Status.Precision;
                bool toInfinity = rc == X87Rounding.NearestEven || (rc == X87Rounding.Up && !negative) || (rc == X87Rounding.Down && negative);
                if (toInfinity)
                {
                    st |= X87Status.C1;
                    return new Rounded(IntegerBit, f.EMax + 1, true, true);
                }
                return new Rounded(top << (64 - p), f.EMax, false, true);
            }
        }

        if (rem != 0)
            st |= X87Status.Precision;
        if (up)
            st |= X87Status.C1;
        return new Rounded(kept << (64 - p), exp, false, true);
    }

    /// <summary>Rounds to the register format under the control word's PC (or an explicit precision) and packs.</summary>
    internal static Float80 RoundToExtended(bool negative, int exp, UInt128 sig, int precision, X87Control cw, ref X87Status st)
    {
        Rounded r = RoundCore(negative, exp, sig, RoundFormat.Extended(precision), cw.Rounding, cw, ref st);
        return PackExtended(negative, r);
    }

    internal static Float80 PackExtended(bool negative, Rounded r)
    {
        if (r.Infinity)
            return new Float80(negative, MaxBiasedExponent, IntegerBit);
        if ((r.Sig & IntegerBit) == 0)
            return new Float80(negative, 0, r.Sig);
        return new Float80(negative, (r.Exp + ExponentBias) & 0x7FFF, r.Sig);
    }

    /// <summary>Normalizes a non-zero 128-bit magnitude whose bit 127 has weight 2^exp127 and rounds it.</summary>
    internal static Float80 NormalizeRound(bool negative, int exp127, UInt128 sig, int precision, X87Control cw, ref X87Status st)
    {
        int lz = (int)UInt128.LeadingZeroCount(sig);
        return RoundToExtended(negative, exp127 - lz, sig << lz, precision, cw, ref st);
    }

    internal static int Lzcnt(ulong v) => BitOperations.LeadingZeroCount(v);
}
