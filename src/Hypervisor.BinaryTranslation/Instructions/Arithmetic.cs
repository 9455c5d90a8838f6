using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>A two-operand ALU operation: computes the result and names its lazy flag kind (src1 = a, src2 = b).</summary>
public interface IAluOp
{
    static abstract bool Writes { get; }
    static abstract ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged;
}

public struct AddOp : IAluOp
{
    public static bool Writes => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged
    {
        cc = LazyFlags.Make(CcKind.Add, Sz<T>.Log2);
        return a + b;
    }
}

/// <summary>ADC (Intel SDM Vol. 2A): the carry-in selects the flag kind, so CF is exact for b = max.</summary>
public struct AdcOp : IAluOp
{
    public static bool Writes => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged
    {
        ulong carry = c.Carry();
        cc = LazyFlags.Make(carry != 0 ? CcKind.AddCarry : CcKind.Add, Sz<T>.Log2);
        return a + b + carry;
    }
}

public struct SubOp : IAluOp
{
    public static bool Writes => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged
    {
        cc = LazyFlags.Make(CcKind.Sub, Sz<T>.Log2);
        return a - b;
    }
}

public struct SbbOp : IAluOp
{
    public static bool Writes => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged
    {
        ulong borrow = c.Carry();
        cc = LazyFlags.Make(borrow != 0 ? CcKind.SubBorrow : CcKind.Sub, Sz<T>.Log2);
        return a - b - borrow;
    }
}

public struct CmpOp : IAluOp
{
    public static bool Writes => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged
    {
        cc = LazyFlags.Make(CcKind.Sub, Sz<T>.Log2);
        return a - b;
    }
}

/// <summary>ADD/ADC/SUB/SBB/CMP and the logical ops, INC/DEC/NEG/NOT: every operand form and size.</summary>
public static unsafe class Arithmetic
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool RegDst<T, TOp, TSrc>(CpuContext c, ref Op op)
        where T : unmanaged where TOp : struct, IAluOp where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong b)) return false;
        ulong a = c.GetReg<T>(op.R0);
        ulong r = TOp.Apply<T>(c, a, b, out int cc);
        if (TOp.Writes) c.SetReg<T>(op.R0, r);
        c.SetCc(cc, r, a, b);
        return true;
    }

    /// <summary>Read-modify-write: the store comes before the flags so a faulting store leaves them untouched.</summary>
    public static bool MemDst<T, TOp, TSrc>(CpuContext c, ref Op op)
        where T : unmanaged where TOp : struct, IAluOp where TSrc : struct, ISource
    {
        ulong lin = Addressing.Linear(c, ref op);
        if (!c.Read<T>(lin, out ulong a)) return false;
        TSrc.Get<T>(c, ref op, out ulong b);
        ulong r = TOp.Apply<T>(c, a, b, out int cc);
        if (TOp.Writes && !c.Write<T>(lin, r)) return false;
        c.SetCc(cc, r, a, b);
        return true;
    }

    public static OpHandler SelectAlu<TOp>(OperandForm form, int size) where TOp : struct, IAluOp => form switch
    {
        OperandForm.RegReg => size switch
        {
            1 => &RegDst<byte, TOp, FromReg>, 2 => &RegDst<ushort, TOp, FromReg>,
            4 => &RegDst<uint, TOp, FromReg>, _ => &RegDst<ulong, TOp, FromReg>,
        },
        OperandForm.RegImm => size switch
        {
            1 => &RegDst<byte, TOp, FromImm>, 2 => &RegDst<ushort, TOp, FromImm>,
            4 => &RegDst<uint, TOp, FromImm>, _ => &RegDst<ulong, TOp, FromImm>,
        },
        OperandForm.RegMem => size switch
        {
            1 => &RegDst<byte, TOp, FromMem>, 2 => &RegDst<ushort, TOp, FromMem>,
            4 => &RegDst<uint, TOp, FromMem>, _ => &RegDst<ulong, TOp, FromMem>,
        },
        OperandForm.MemReg => size switch
        {
            1 => &MemDst<byte, TOp, FromReg>, 2 => &MemDst<ushort, TOp, FromReg>,
            4 => &MemDst<uint, TOp, FromReg>, _ => &MemDst<ulong, TOp, FromReg>,
        },
        OperandForm.MemImm => size switch
        {
            1 => &MemDst<byte, TOp, FromImm>, 2 => &MemDst<ushort, TOp, FromImm>,
            4 => &MemDst<uint, TOp, FromImm>, _ => &MemDst<ulong, TOp, FromImm>,
        },
        _ => null,
    };

    // ---- INC / DEC / NEG / NOT ----

    public interface IUnaryOp
    {
        /// <summary>Returns the result and records the flags (NOT records none).</summary>
        static abstract ulong Apply<T>(CpuContext c, ulong a, out int cc, out ulong s1, out ulong s2) where T : unmanaged;
        static abstract bool SetsFlags { get; }
    }

    /// <summary>INC leaves CF alone (Intel SDM Vol. 2A INC): the current CF rides along in src2.</summary>
    public struct IncOp : IUnaryOp
    {
        public static bool SetsFlags => true;

        public static ulong Apply<T>(CpuContext c, ulong a, out int cc, out ulong s1, out ulong s2) where T : unmanaged
        {
            cc = LazyFlags.Make(CcKind.Inc, Sz<T>.Log2);
            s1 = a;
            s2 = c.Carry();
            return a + 1;
        }
    }

    public struct DecOp : IUnaryOp
    {
        public static bool SetsFlags => true;

        public static ulong Apply<T>(CpuContext c, ulong a, out int cc, out ulong s1, out ulong s2) where T : unmanaged
        {
            cc = LazyFlags.Make(CcKind.Dec, Sz<T>.Log2);
            s1 = a;
            s2 = c.Carry();
            return a - 1;
        }
    }

    /// <summary>NEG is 0 - operand: CF = (operand != 0), the SUB flags otherwise.</summary>
    public struct NegOp : IUnaryOp
    {
        public static bool SetsFlags => true;

        public static ulong Apply<T>(CpuContext c, ulong a, out int cc, out ulong s1, out ulong s2) where T : unmanaged
        {
            cc = LazyFlags.Make(CcKind.Sub, Sz<T>.Log2);
            s1 = 0;
            s2 = a;
            return 0 - a;
        }
    }

    public struct NotOp : IUnaryOp
    {
        public static bool SetsFlags => false;

        public static ulong Apply<T>(CpuContext c, ulong a, out int cc, out ulong s1, out ulong s2) where T : unmanaged
        {
            cc = 0;
            s1 = s2 = 0;
            return ~a;
        }
    }

    public static bool UnaryReg<T, TOp>(CpuContext c, ref Op op) where T : unmanaged where TOp : struct, IUnaryOp
    {
        ulong r = TOp.Apply<T>(c, c.GetReg<T>(op.R0), out int cc, out ulong s1, out ulong s2);
        c.SetReg<T>(op.R0, r);
        if (TOp.SetsFlags) c.SetCc(cc, r, s1, s2);
        return true;
    }

    public static bool UnaryMem<T, TOp>(CpuContext c, ref Op op) where T : unmanaged where TOp : struct, IUnaryOp
    {
        ulong lin = Addressing.Linear(c, ref op);
        if (!c.Read<T>(lin, out ulong a)) return false;
        ulong r = TOp.Apply<T>(c, a, out int cc, out ulong s1, out ulong s2);
        if (!c.Write<T>(lin, r)) return false;
        if (TOp.SetsFlags) c.SetCc(cc, r, s1, s2);
        return true;
    }

    public static OpHandler SelectUnary<TOp>(bool memory, int size) where TOp : struct, IUnaryOp => memory
        ? size switch
        {
            1 => &UnaryMem<byte, TOp>, 2 => &UnaryMem<ushort, TOp>,
            4 => &UnaryMem<uint, TOp>, _ => &UnaryMem<ulong, TOp>,
        }
        : size switch
        {
            1 => &UnaryReg<byte, TOp>, 2 => &UnaryReg<ushort, TOp>,
            4 => &UnaryReg<uint, TOp>, _ => &UnaryReg<ulong, TOp>,
        };

    internal static bool Bind(in Instruction ins, ref Op op, int size)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Add: op.Handler = SelectAlu<AddOp>(OperandForms.Of(ins), size); break;
            case Mnemonic.Adc: op.Handler = SelectAlu<AdcOp>(OperandForms.Of(ins), size); break;
            case Mnemonic.Sub: op.Handler = SelectAlu<SubOp>(OperandForms.Of(ins), size); break;
            case Mnemonic.Sbb: op.Handler = SelectAlu<SbbOp>(OperandForms.Of(ins), size); break;
            case Mnemonic.Cmp: op.Handler = SelectAlu<CmpOp>(OperandForms.Of(ins), size); break;
            case Mnemonic.Inc: op.Handler = SelectUnary<IncOp>(ins.Op0Kind == OpKind.Memory, size); break;
            case Mnemonic.Dec: op.Handler = SelectUnary<DecOp>(ins.Op0Kind == OpKind.Memory, size); break;
            case Mnemonic.Neg: op.Handler = SelectUnary<NegOp>(ins.Op0Kind == OpKind.Memory, size); break;
            case Mnemonic.Not: op.Handler = SelectUnary<NotOp>(ins.Op0Kind == OpKind.Memory, size); break;
            default: return false;
        }
        return op.Handler != null;
    }
}
