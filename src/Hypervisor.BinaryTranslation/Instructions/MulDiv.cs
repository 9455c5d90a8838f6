using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>
/// MUL, IMUL (one, two and three operands), DIV, IDIV (Intel SDM Vol. 2A/2B). MUL/IMUL set CF = OF when the
/// result does not fit the destination; SF/ZF/AF/PF are undefined and are set here the way AMD Zen processors
/// leave them (SF/ZF/PF from the low half, AF = 0). DIV/IDIV raise #DE on a zero divisor or a quotient that
/// does not fit, and leave the flags unchanged.
/// </summary>
public static unsafe class MulDiv
{
    private static void SetMulFlags<T>(CpuContext c, ulong low, bool overflow) where T : unmanaged
    {
        ulong f = LazyFlags.SignZeroParity(low, Sz<T>.Log2);
        if (overflow) f |= FlagBits.CF | FlagBits.OF;
        c.SetStatusFlags(f);
    }

    /// <summary>Writes the double-width product/dividend halves: AX for bytes, rDX:rAX otherwise.</summary>
    private static void WritePair<T>(CpuContext c, ulong low, ulong high) where T : unmanaged
    {
        if (typeof(T) == typeof(byte))
        {
            c.SetReg<ushort>(0, (low & 0xFF) | (high & 0xFF) << 8);
            return;
        }
        c.SetReg<T>(0, low);
        c.SetReg<T>(2 * 8, high);
    }

    public static bool Mul<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong b)) return false;
        ulong a = c.GetReg<T>(0);
        ulong high, low;
        if (typeof(T) == typeof(ulong)) high = Math.BigMul(a, b, out low);
        else
        {
            ulong p = a * b;
            low = p & Sz<T>.Mask;
            high = p >> Sz<T>.Bits;
        }
        WritePair<T>(c, low, high);
        SetMulFlags<T>(c, low, high != 0);
        return true;
    }

    public static bool Imul1<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong b)) return false;
        long a = Sz<T>.SignExtend(c.GetReg<T>(0)), sb = Sz<T>.SignExtend(b);
        ulong high, low;
        bool overflow;
        if (typeof(T) == typeof(ulong))
        {
            long h = Math.BigMul(a, sb, out long l);
            low = (ulong)l;
            high = (ulong)h;
            overflow = h != l >> 63;
        }
        else
        {
            long p = a * sb;
            low = (ulong)p & Sz<T>.Mask;
            high = (ulong)(p >> Sz<T>.Bits) & Sz<T>.Mask;
            overflow = p != Sz<T>.SignExtend((ulong)p);
        }
        WritePair<T>(c, low, high);
        SetMulFlags<T>(c, low, overflow);
        return true;
    }

    /// <summary>IMUL r, r/m and IMUL r, r/m, imm: the product truncated to the destination. Cond = 1: immediate form.</summary>
    public static bool Imul<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong b)) return false;
        long x = op.Cond != 0 ? Sz<T>.SignExtend(b) : Sz<T>.SignExtend(c.GetReg<T>(op.R0));
        long y = op.Cond != 0 ? Sz<T>.SignExtend(op.Imm) : Sz<T>.SignExtend(b);
        bool overflow;
        ulong low;
        if (typeof(T) == typeof(ulong))
        {
            long h = Math.BigMul(x, y, out long l);
            low = (ulong)l;
            overflow = h != l >> 63;
        }
        else
        {
            long p = x * y;
            low = (ulong)p & Sz<T>.Mask;
            overflow = p != Sz<T>.SignExtend((ulong)p);
        }
        c.SetReg<T>(op.R0, low);
        SetMulFlags<T>(c, low, overflow);
        return true;
    }

    public static bool Div<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong d)) return false;
        if (d == 0) return c.Fault(Vectors.DivideError);
        UInt128 dividend = typeof(T) == typeof(byte)
            ? c.GetReg<ushort>(0)
            : ((UInt128)c.GetReg<T>(2 * 8) << Sz<T>.Bits) | c.GetReg<T>(0);
        UInt128 q = dividend / d;
        if (q > Sz<T>.Mask) return c.Fault(Vectors.DivideError);
        ulong r = (ulong)(dividend % d);
        if (typeof(T) == typeof(byte)) c.SetReg<ushort>(0, (ulong)q | r << 8);
        else
        {
            c.SetReg<T>(0, (ulong)q);
            c.SetReg<T>(2 * 8, r);
        }
        return true;
    }

    public static bool Idiv<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong raw)) return false;
        long d = Sz<T>.SignExtend(raw);
        if (d == 0) return c.Fault(Vectors.DivideError);
        Int128 dividend = typeof(T) == typeof(byte)
            ? (short)c.GetReg<ushort>(0)
            : ((Int128)Sz<T>.SignExtend(c.GetReg<T>(2 * 8)) << Sz<T>.Bits) | c.GetReg<T>(0);
        Int128 q = dividend / d;
        long min = -(long)(Sz<T>.Sign), max = (long)(Sz<T>.Sign - 1);
        if (q < min || q > max) return c.Fault(Vectors.DivideError);
        ulong r = (ulong)(long)(dividend % d) & Sz<T>.Mask;
        ulong qu = (ulong)(long)q & Sz<T>.Mask;
        if (typeof(T) == typeof(byte)) c.SetReg<ushort>(0, qu | r << 8);
        else
        {
            c.SetReg<T>(0, qu);
            c.SetReg<T>(2 * 8, r);
        }
        return true;
    }

    private static OpHandler One(Mnemonic m, int size, bool memory) => (m, size, memory) switch
    {
        (Mnemonic.Mul, 1, false) => &Mul<byte, FromReg>, (Mnemonic.Mul, 1, true) => &Mul<byte, FromMem>,
        (Mnemonic.Mul, 2, false) => &Mul<ushort, FromReg>, (Mnemonic.Mul, 2, true) => &Mul<ushort, FromMem>,
        (Mnemonic.Mul, 4, false) => &Mul<uint, FromReg>, (Mnemonic.Mul, 4, true) => &Mul<uint, FromMem>,
        (Mnemonic.Mul, _, false) => &Mul<ulong, FromReg>, (Mnemonic.Mul, _, true) => &Mul<ulong, FromMem>,
        (Mnemonic.Imul, 1, false) => &Imul1<byte, FromReg>, (Mnemonic.Imul, 1, true) => &Imul1<byte, FromMem>,
        (Mnemonic.Imul, 2, false) => &Imul1<ushort, FromReg>, (Mnemonic.Imul, 2, true) => &Imul1<ushort, FromMem>,
        (Mnemonic.Imul, 4, false) => &Imul1<uint, FromReg>, (Mnemonic.Imul, 4, true) => &Imul1<uint, FromMem>,
        (Mnemonic.Imul, _, false) => &Imul1<ulong, FromReg>, (Mnemonic.Imul, _, true) => &Imul1<ulong, FromMem>,
        (Mnemonic.Div, 1, false) => &Div<byte, FromReg>, (Mnemonic.Div, 1, true) => &Div<byte, FromMem>,
        (Mnemonic.Div, 2, false) => &Div<ushort, FromReg>, (Mnemonic.Div, 2, true) => &Div<ushort, FromMem>,
        (Mnemonic.Div, 4, false) => &Div<uint, FromReg>, (Mnemonic.Div, 4, true) => &Div<uint, FromMem>,
        (Mnemonic.Div, _, false) => &Div<ulong, FromReg>, (Mnemonic.Div, _, true) => &Div<ulong, FromMem>,
        (_, 1, false) => &Idiv<byte, FromReg>, (_, 1, true) => &Idiv<byte, FromMem>,
        (_, 2, false) => &Idiv<ushort, FromReg>, (_, 2, true) => &Idiv<ushort, FromMem>,
        (_, 4, false) => &Idiv<uint, FromReg>, (_, 4, true) => &Idiv<uint, FromMem>,
        (_, _, false) => &Idiv<ulong, FromReg>, _ => &Idiv<ulong, FromMem>,
    };

    internal static bool Bind(in Instruction ins, ref Op op, int size)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Mul: case Mnemonic.Div: case Mnemonic.Idiv:
            case Mnemonic.Imul when ins.OpCount == 1:
                op.R1 = op.R0;
                op.Handler = One(ins.Mnemonic, size, ins.Op0Kind == OpKind.Memory);
                return true;
            case Mnemonic.Imul:
            {
                bool memory = ins.Op1Kind == OpKind.Memory;
                op.Cond = ins.OpCount == 3 ? (byte)1 : (byte)0;
                op.Handler = (size, memory) switch
                {
                    (2, false) => &Imul<ushort, FromReg>, (2, true) => &Imul<ushort, FromMem>,
                    (4, false) => &Imul<uint, FromReg>, (4, true) => &Imul<uint, FromMem>,
                    (_, false) => &Imul<ulong, FromReg>, _ => &Imul<ulong, FromMem>,
                };
                return true;
            }
        }
        return false;
    }
}
