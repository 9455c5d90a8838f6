using System.Numerics;
using System.Runtime.CompilerServices;

namespace Hypervisor.BinaryTranslation.Flags;

/// <summary>
/// Materialises OF/SF/ZF/AF/PF/CF from the lazy state (Intel SDM Vol. 1, Appendix A for which instruction sets
/// which flag). SF, ZF and PF always follow the result; CF, OF and AF depend on the kind.
/// </summary>
public static class LazyFlags
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Make(CcKind kind, int sizeLog2) => (int)kind << 2 | sizeLog2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SignBit(int sizeLog2) => 1UL << ((8 << sizeLog2) - 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mask(int sizeLog2) => ulong.MaxValue >> (64 - (8 << sizeLog2));

    /// <summary>PF: set when the low byte of the result has an even number of ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Parity(ulong result) => (ulong)(~BitOperations.PopCount((uint)(result & 0xFF)) & 1) << 2;

    /// <summary>SF, ZF and PF of a result of the given size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong SignZeroParity(ulong result, int sizeLog2)
    {
        ulong m = Mask(sizeLog2);
        ulong r = result & m;
        ulong f = Parity(r);
        if (r == 0) f |= FlagBits.ZF;
        if ((r & SignBit(sizeLog2)) != 0) f |= FlagBits.SF;
        return f;
    }

    /// <summary>The six status flags of a lazy state that is not <see cref="CcKind.Eager"/>.</summary>
    public static ulong Compute(int ccOp, ulong res, ulong src1, ulong src2)
    {
        int size = ccOp & 3;
        ulong m = Mask(size);
        ulong sign = SignBit(size);
        ulong f = SignZeroParity(res, size);
        ulong r = res & m, a = src1 & m, b = src2 & m;
        switch ((CcKind)(ccOp >> 2))
        {
            case CcKind.Add:
                if (r < a) f |= FlagBits.CF;
                if (((a ^ r) & (b ^ r) & sign) != 0) f |= FlagBits.OF;
                f |= (a ^ b ^ r) & FlagBits.AF;
                break;
            case CcKind.AddCarry:
                if (r <= a) f |= FlagBits.CF;
                if (((a ^ r) & (b ^ r) & sign) != 0) f |= FlagBits.OF;
                f |= (a ^ b ^ r) & FlagBits.AF;
                break;
            case CcKind.Sub:
                if (a < b) f |= FlagBits.CF;
                if (((a ^ b) & (a ^ r) & sign) != 0) f |= FlagBits.OF;
                f |= (a ^ b ^ r) & FlagBits.AF;
                break;
            case CcKind.SubBorrow:
                if (a <= b) f |= FlagBits.CF;
                if (((a ^ b) & (a ^ r) & sign) != 0) f |= FlagBits.OF;
                f |= (a ^ b ^ r) & FlagBits.AF;
                break;
            case CcKind.Logic:
                break;
            case CcKind.Inc:
                f |= src2 & FlagBits.CF;
                if (r == sign) f |= FlagBits.OF;
                if ((r & 0xF) == 0) f |= FlagBits.AF;
                break;
            case CcKind.Dec:
                f |= src2 & FlagBits.CF;
                if (r == sign - 1) f |= FlagBits.OF;
                if ((r & 0xF) == 0xF) f |= FlagBits.AF;
                break;
            case CcKind.Shl:
                // CF is the last bit shifted out; OF = MSB(result) XOR CF (defined for count 1 only, SDM SAL/SHL).
                if ((src1 & sign) != 0) f |= FlagBits.CF;
                if ((((src1 ^ res) & sign) != 0)) f |= FlagBits.OF;
                break;
            case CcKind.Shr:
                f |= src1 & FlagBits.CF;
                // OF = MSB of the original operand (defined for count 1).
                if ((b & sign) != 0) f |= FlagBits.OF;
                break;
            case CcKind.Sar:
                f |= src1 & FlagBits.CF;
                break;
        }
        return f;
    }

    /// <summary>CF alone, for ADC/SBB/RCL/RCR and INC/DEC, cheaper than all six.</summary>
    public static ulong ComputeCarry(int ccOp, ulong res, ulong src1, ulong src2)
    {
        int size = ccOp & 3;
        ulong m = Mask(size);
        ulong r = res & m, a = src1 & m, b = src2 & m;
        return (CcKind)(ccOp >> 2) switch
        {
            CcKind.Add => r < a ? 1UL : 0,
            CcKind.AddCarry => r <= a ? 1UL : 0,
            CcKind.Sub => a < b ? 1UL : 0,
            CcKind.SubBorrow => a <= b ? 1UL : 0,
            CcKind.Logic => 0,
            CcKind.Inc or CcKind.Dec => src2 & 1,
            CcKind.Shl => (src1 & SignBit(size)) != 0 ? 1UL : 0,
            CcKind.Shr or CcKind.Sar => src1 & 1,
            _ => 0,
        };
    }
}
