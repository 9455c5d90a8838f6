using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>MOV, MOVZX/MOVSX/MOVSXD, LEA, CBW..CQO, XLAT, CMOVcc, SETcc, MOV from a segment register.</summary>
public static unsafe class DataMovement
{
    public static bool MovToReg<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong v)) return false;
        c.SetReg<T>(op.R0, v);
        return true;
    }

    public static bool MovToMem<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        TSrc.Get<T>(c, ref op, out ulong v);
        return c.Write<T>(Addressing.Linear(c, ref op), v);
    }

    /// <summary>MOVZX (and MOVSXD with a 16/32-bit destination, which does not sign-extend).</summary>
    public static bool MovZx<TDst, TSrc, TFrom>(CpuContext c, ref Op op)
        where TDst : unmanaged where TSrc : unmanaged where TFrom : struct, ISource
    {
        if (!TFrom.Get<TSrc>(c, ref op, out ulong v)) return false;
        c.SetReg<TDst>(op.R0, v);
        return true;
    }

    public static bool MovSx<TDst, TSrc, TFrom>(CpuContext c, ref Op op)
        where TDst : unmanaged where TSrc : unmanaged where TFrom : struct, ISource
    {
        if (!TFrom.Get<TSrc>(c, ref op, out ulong v)) return false;
        c.SetReg<TDst>(op.R0, (ulong)Sz<TSrc>.SignExtend(v));
        return true;
    }

    public static bool Lea<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        c.SetReg<T>(op.R0, Addressing.Effective(c, ref op));
        return true;
    }

    /// <summary>CBW/CWDE/CDQE: the accumulator's lower half sign-extended into the whole (T is the destination).</summary>
    public static bool ExtendAccumulator<T, THalf>(CpuContext c, ref Op op) where T : unmanaged where THalf : unmanaged
    {
        c.SetReg<T>(0, (ulong)Sz<THalf>.SignExtend(c.GetReg<THalf>(0)));
        return true;
    }

    /// <summary>CWD/CDQ/CQO: the accumulator's sign copied into every bit of rDX.</summary>
    public static bool ExtendIntoDx<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        c.SetReg<T>(2 * 8, (c.GetReg<T>(0) & Sz<T>.Sign) != 0 ? ulong.MaxValue : 0);
        return true;
    }

    /// <summary>XLAT: AL = [seg:rBX + zero-extended AL], wrapped to the address size.</summary>
    public static bool Xlat(CpuContext c, ref Op op)
    {
        ulong ea = (c.Gpr(3) + c.GetReg<byte>(0)) & (ulong.MaxValue >> op.AddrShift);
        if (!c.Read<byte>(Addressing.Linear(c, op.Seg, ea), out ulong v)) return false;
        c.SetReg<byte>(0, v);
        return true;
    }

    /// <summary>
    /// CMOVcc reads its source whatever the condition (a memory source can fault), and a 32-bit CMOV zero-extends
    /// the destination in 64-bit mode even when the condition is false (Intel SDM Vol. 2A CMOVcc).
    /// </summary>
    public static bool Cmov<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong v)) return false;
        c.SetReg<T>(op.R0, Conditions.Evaluate(c, op.Cond) ? v : c.GetReg<T>(op.R0));
        return true;
    }

    public static bool SetccReg(CpuContext c, ref Op op)
    {
        c.SetReg<byte>(op.R0, Conditions.Evaluate(c, op.Cond) ? 1UL : 0);
        return true;
    }

    public static bool SetccMem(CpuContext c, ref Op op) =>
        c.Write<byte>(Addressing.Linear(c, ref op), Conditions.Evaluate(c, op.Cond) ? 1UL : 0);

    /// <summary>MOV r/m, Sreg: a register destination of 32/64 bits gets the zero-extended selector.</summary>
    public static bool MovFromSegReg<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        c.SetReg<T>(op.R0, c.Segments[op.Cond].Selector);
        return true;
    }

    public static bool MovFromSegMem(CpuContext c, ref Op op) =>
        c.Write<ushort>(Addressing.Linear(c, ref op), c.Segments[op.Cond].Selector);

    private static OpHandler Sized<TSrc>(int size, bool toMemory) where TSrc : struct, ISource => (toMemory, size) switch
    {
        (false, 1) => &MovToReg<byte, TSrc>, (false, 2) => &MovToReg<ushort, TSrc>,
        (false, 4) => &MovToReg<uint, TSrc>, (false, _) => &MovToReg<ulong, TSrc>,
        (true, 1) => &MovToMem<byte, TSrc>, (true, 2) => &MovToMem<ushort, TSrc>,
        (true, 4) => &MovToMem<uint, TSrc>, (true, _) => &MovToMem<ulong, TSrc>,
    };

    private static OpHandler Extend<TDst>(bool signed, int srcSize, bool memory) where TDst : unmanaged =>
        (signed, srcSize, memory) switch
        {
            (false, 1, false) => &MovZx<TDst, byte, FromReg>, (false, 1, true) => &MovZx<TDst, byte, FromMem>,
            (false, 2, false) => &MovZx<TDst, ushort, FromReg>, (false, 2, true) => &MovZx<TDst, ushort, FromMem>,
            (false, _, false) => &MovZx<TDst, uint, FromReg>, (false, _, true) => &MovZx<TDst, uint, FromMem>,
            (true, 1, false) => &MovSx<TDst, byte, FromReg>, (true, 1, true) => &MovSx<TDst, byte, FromMem>,
            (true, 2, false) => &MovSx<TDst, ushort, FromReg>, (true, 2, true) => &MovSx<TDst, ushort, FromMem>,
            (true, _, false) => &MovSx<TDst, uint, FromReg>, (true, _, true) => &MovSx<TDst, uint, FromMem>,
        };

    private static OpHandler CmovSized(int size, bool memory) => (size, memory) switch
    {
        (2, false) => &Cmov<ushort, FromReg>, (2, true) => &Cmov<ushort, FromMem>,
        (4, false) => &Cmov<uint, FromReg>, (4, true) => &Cmov<uint, FromMem>,
        (_, false) => &Cmov<ulong, FromReg>, _ => &Cmov<ulong, FromMem>,
    };

    internal static bool Bind(in Instruction ins, ref Op op, int size, in BindContext ctx)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Mov:
            {
                if (ins.Op0Kind == OpKind.Register && !ins.Op0Register.IsGPR()) return false;
                if (ins.Op1Kind == OpKind.Register && ins.Op1Register.IsSegmentRegister())
                {
                    op.Cond = (byte)(ins.Op1Register - Register.ES);
                    op.Handler = ins.Op0Kind == OpKind.Memory ? &MovFromSegMem
                        : size switch { 2 => &MovFromSegReg<ushort>, 4 => &MovFromSegReg<uint>, _ => &MovFromSegReg<ulong> };
                    return true;
                }
                if (ins.Op1Kind == OpKind.Register && !ins.Op1Register.IsGPR()) return false;
                var form = OperandForms.Of(ins);
                op.Handler = form switch
                {
                    OperandForm.RegReg => Sized<FromReg>(size, false),
                    OperandForm.RegImm => Sized<FromImm>(size, false),
                    OperandForm.RegMem => Sized<FromMem>(size, false),
                    OperandForm.MemReg => Sized<FromReg>(size, true),
                    OperandForm.MemImm => Sized<FromImm>(size, true),
                    _ => null,
                };
                return op.Handler != null;
            }
            case Mnemonic.Movzx:
            case Mnemonic.Movsx:
            case Mnemonic.Movsxd:
            {
                bool memory = ins.Op1Kind == OpKind.Memory;
                int srcSize = memory ? ins.MemorySize.GetSize() : ins.Op1Register.GetSize();
                // MOVSXD with a 16/32-bit destination just moves (Intel SDM Vol. 2B MOVSX/MOVSXD).
                bool signed = ins.Mnemonic != Mnemonic.Movzx && !(ins.Mnemonic == Mnemonic.Movsxd && size <= 4);
                op.Handler = size switch
                {
                    2 => Extend<ushort>(signed, srcSize, memory),
                    4 => Extend<uint>(signed, srcSize, memory),
                    _ => Extend<ulong>(signed, srcSize, memory),
                };
                return true;
            }
            case Mnemonic.Lea:
                op.Handler = size switch { 2 => &Lea<ushort>, 4 => &Lea<uint>, _ => &Lea<ulong> };
                return true;
            case Mnemonic.Cbw: op.Handler = &ExtendAccumulator<ushort, byte>; return true;
            case Mnemonic.Cwde: op.Handler = &ExtendAccumulator<uint, ushort>; return true;
            case Mnemonic.Cdqe: op.Handler = &ExtendAccumulator<ulong, uint>; return true;
            case Mnemonic.Cwd: op.Handler = &ExtendIntoDx<ushort>; return true;
            case Mnemonic.Cdq: op.Handler = &ExtendIntoDx<uint>; return true;
            case Mnemonic.Cqo: op.Handler = &ExtendIntoDx<ulong>; return true;
            case Mnemonic.Xlatb:
                op.AddrShift = (byte)(64 - OpBinder.AddressBits(ins, ctx.CodeBits));
                op.Handler = &Xlat;
                return true;
            case Mnemonic.Cmovo: case Mnemonic.Cmovno: case Mnemonic.Cmovb: case Mnemonic.Cmovae:
            case Mnemonic.Cmove: case Mnemonic.Cmovne: case Mnemonic.Cmovbe: case Mnemonic.Cmova:
            case Mnemonic.Cmovs: case Mnemonic.Cmovns: case Mnemonic.Cmovp: case Mnemonic.Cmovnp:
            case Mnemonic.Cmovl: case Mnemonic.Cmovge: case Mnemonic.Cmovle: case Mnemonic.Cmovg:
                op.Cond = (byte)(ins.ConditionCode - ConditionCode.o);
                op.Handler = CmovSized(size, ins.Op1Kind == OpKind.Memory);
                return true;
            case Mnemonic.Seto: case Mnemonic.Setno: case Mnemonic.Setb: case Mnemonic.Setae:
            case Mnemonic.Sete: case Mnemonic.Setne: case Mnemonic.Setbe: case Mnemonic.Seta:
            case Mnemonic.Sets: case Mnemonic.Setns: case Mnemonic.Setp: case Mnemonic.Setnp:
            case Mnemonic.Setl: case Mnemonic.Setge: case Mnemonic.Setle: case Mnemonic.Setg:
                op.Cond = (byte)(ins.ConditionCode - ConditionCode.o);
                op.Handler = ins.Op0Kind == OpKind.Memory ? &SetccMem : &SetccReg;
                return true;
        }
        return false;
    }
}
