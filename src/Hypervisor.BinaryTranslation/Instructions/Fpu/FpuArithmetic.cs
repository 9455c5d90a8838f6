using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>
/// FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in all forms, FCOM/FUCOM/FCOMI/FUCOMI/FTST/FXAM, FCHS/FABS/FSQRT/FRNDINT,
/// FCMOVcc (Intel SDM Vol. 2A). Aux = operation in ModRM.reg numbering (0 add, 1 mul, 4 sub, 5 subr, 6 div,
/// 7 divr); Cond = i of ST(i); Aux2 bit 0 = the destination is ST(i), bit 1 = pop, bits 8+ = memory format.
/// </summary>
public static class FpuArithmetic
{
    public static bool Arithmetic(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        var memory = (FpuMemory)(op.Aux2 >> 8);
        bool toSti = (op.Aux2 & 1) != 0;
        Float80 other;
        bool denormalSource = false;
        if (memory != FpuMemory.None)
        {
            if (!Fpu.ReadMemory(c, ref op, memory, false, ref st, out other, out denormalSource)) return false;
        }
        else if (!Fpu.Operand(c, toSti ? 0 : op.Cond, ref st, out other))
        {
            Fpu.Commit(c, st);
            return true;
        }
        int dest = toSti ? op.Cond : 0;
        if (!Fpu.Operand(c, dest, ref st, out var a))
        {
            Fpu.Commit(c, st);
            return true;
        }
        if (c.StEmpty(dest) || (memory == FpuMemory.None && c.StEmpty(toSti ? 0 : op.Cond)))
        {
            // Masked stack underflow: the destination becomes the indefinite.
            Store(c, dest, Float80.Indefinite, ref st, (op.Aux2 & 2) != 0);
            return true;
        }
        var cw = Fpu.Control(c);
        var before = st;
        Float80 r = op.Aux switch
        {
            0 => Float80.Add(a, other, cw, ref st, denormalSource),
            1 => Float80.Multiply(a, other, cw, ref st, denormalSource),
            4 => Float80.Subtract(a, other, cw, ref st, denormalSource),
            5 => Float80.Subtract(other, a, cw, ref st, denormalSource),
            6 => Float80.Divide(a, other, cw, ref st, denormalSource),
            _ => Float80.Divide(other, a, cw, ref st, denormalSource),
        };
        if (cw.SuppressesStore(st & ~before, false))
        {
            Fpu.Commit(c, st);
            return true;
        }
        Store(c, dest, r, ref st, (op.Aux2 & 2) != 0);
        return true;
    }

    private static void Store(CpuContext c, int dest, Float80 value, ref X87Status st, bool pop)
    {
        c.St(dest) = value;
        c.SetStValid(dest, true);
        if (pop) Fpu.Pop(c, ref st);
        Fpu.Commit(c, st);
    }

    /// <summary>
    /// FCOM/FCOMP/FCOMPP/FUCOM* (Aux bit 0 = unordered, Aux bits 1-2 = pops, Aux bit 3 = FCOMI form setting
    /// ZF/PF/CF, Aux bit 4 = FTST), Aux2 >> 8 = memory format.
    /// </summary>
    public static bool Compare(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        var memory = (FpuMemory)(op.Aux2 >> 8);
        Float80 b = Float80.PositiveZero;
        bool denormalSource = false;
        bool valid = true;
        if (memory != FpuMemory.None)
        {
            if (!Fpu.ReadMemory(c, ref op, memory, false, ref st, out b, out denormalSource)) return false;
        }
        else if ((op.Aux & 16) == 0) valid = Fpu.Operand(c, op.Cond, ref st, out b) && !c.StEmpty(op.Cond);
        valid &= Fpu.Operand(c, 0, ref st, out var a) && !c.StEmpty(0);
        var conditionCodes = st & X87Status.ConditionCodes;
        var result = X87Comparison.Unordered;
        if (valid) result = Float80.Compare(a, b, (op.Aux & 1) != 0, Fpu.Control(c), ref st, denormalSource);
        else if (!Fpu.Masked(c, X87Status.Invalid))
        {
            Fpu.Commit(c, st);
            return true;
        }
        bool c3 = result is X87Comparison.Equal or X87Comparison.Unordered;
        bool c2 = result == X87Comparison.Unordered;
        bool c0 = result is X87Comparison.Less or X87Comparison.Unordered;
        st &= ~X87Status.C1;
        if ((op.Aux & 8) != 0)
        {
            // FCOMI/FUCOMI: ZF, PF, CF like C3, C2, C0; OF, SF, AF cleared. The condition codes stay, but for
            // C1, which is cleared on stack underflow.
            ulong f = (c3 ? FlagBits.ZF : 0) | (c2 ? FlagBits.PF : 0) | (c0 ? FlagBits.CF : 0);
            c.SetStatusFlags(f);
            st = (st & ~X87Status.ConditionCodes) | conditionCodes;
            if (!valid) st &= ~X87Status.C1;
        }
        else
        {
            st &= ~(X87Status.C0 | X87Status.C2 | X87Status.C3);
            if (c3) st |= X87Status.C3;
            if (c2) st |= X87Status.C2;
            if (c0) st |= X87Status.C0;
        }
        for (int pops = (op.Aux >> 1) & 3; pops > 0; pops--) Fpu.Pop(c, ref st);
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>FXAM: classifies ST(0) (an empty register too) into C3, C2, C0; C1 is its sign.</summary>
    public static bool Examine(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        var v = c.St(0);
        var cls = c.StEmpty(0) ? X87ExamineClass.Empty : Float80.Examine(v, ref st);
        Float80.SetExamineCodes(cls, v.IsNegative, ref st);
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>FCHS (Aux 0), FABS (1), FSQRT (2), FRNDINT (3) on ST(0).</summary>
    public static bool Unary(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        st &= ~X87Status.C1;
        if (!Fpu.Operand(c, 0, ref st, out var v))
        {
            Fpu.Commit(c, st);
            return true;
        }
        var cw = Fpu.Control(c);
        var before = st;
        Float80 r = c.StEmpty(0) ? Float80.Indefinite : op.Aux switch
        {
            0 => v.Negate(),
            1 => v.Abs(),
            2 => Float80.Sqrt(v, cw, ref st),
            _ => Float80.RoundToInteger(v, cw, ref st),
        };
        if (!cw.SuppressesStore(st & ~before, false))
        {
            c.St(0) = r;
            c.SetStValid(0, true);
        }
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>FCMOVcc ST(0), ST(i): Aux = the integer condition code it tests (B, E, BE, P and negations).</summary>
    public static bool ConditionalMove(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        bool ok = Fpu.Operand(c, op.Cond, ref st, out var v) & Fpu.Operand(c, 0, ref st, out _);
        if (c.StEmpty(op.Cond) || c.StEmpty(0))
        {
            if (ok)
            {
                c.St(0) = Float80.Indefinite;
                c.SetStValid(0, true);
            }
        }
        else if (Conditions.Evaluate(c, op.Aux)) c.St(0) = v;
        Fpu.Commit(c, st);
        return true;
    }
}
