using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Flags;

/// <summary>
/// The 16 condition codes of Jcc/SETcc/CMOVcc (Intel SDM Vol. 1, Appendix B). After CMP/SUB and the logical
/// operations - what almost every branch follows - the condition is computed straight from the operands, as
/// QEMU's translator does, without materialising RFLAGS.
/// </summary>
public static class Conditions
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Evaluate(CpuContext c, int cc)
    {
        int ccOp = c.CcOp;
        int kind = ccOp >> 2;
        bool result;
        if (kind == (int)CcKind.Sub)
        {
            int size = ccOp & 3;
            ulong m = LazyFlags.Mask(size);
            ulong a = c.CcSrc1 & m, b = c.CcSrc2 & m;
            int shift = 64 - (8 << size);
            long sa = (long)(a << shift), sb = (long)(b << shift);
            switch (cc >> 1)
            {
                case 1: result = a < b; break;
                case 2: result = a == b; break;
                case 3: result = a <= b; break;
                case 6: result = sa < sb; break;
                case 7: result = sa <= sb; break;
                default: return Slow(c, cc);
            }
        }
        else if (kind == (int)CcKind.Logic)
        {
            int size = ccOp & 3;
            long r = (long)(c.CcResult << (64 - (8 << size)));
            switch (cc >> 1)
            {
                case 0: result = false; break;
                case 1: result = false; break;
                case 2: result = r == 0; break;
                case 3: result = r == 0; break;
                case 4: result = r < 0; break;
                case 6: result = r < 0; break;
                case 7: result = r <= 0; break;
                default: return Slow(c, cc);
            }
        }
        else if (kind != 0 && (cc >> 1) == 2)
        {
            result = (c.CcResult & LazyFlags.Mask(ccOp & 3)) == 0;
        }
        else return Slow(c, cc);
        return result ^ ((cc & 1) != 0);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool Slow(CpuContext c, int cc) => FromFlags(c.GetRflags(), cc);

    public static bool FromFlags(ulong f, int cc)
    {
        bool cf = (f & FlagBits.CF) != 0, zf = (f & FlagBits.ZF) != 0, sf = (f & FlagBits.SF) != 0;
        bool of = (f & FlagBits.OF) != 0, pf = (f & FlagBits.PF) != 0;
        bool r = (cc >> 1) switch
        {
            0 => of,
            1 => cf,
            2 => zf,
            3 => cf || zf,
            4 => sf,
            5 => pf,
            6 => sf != of,
            _ => zf || sf != of,
        };
        return r ^ ((cc & 1) != 0);
    }
}
