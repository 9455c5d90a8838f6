using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>
/// The register-stack functions of Intel SDM Vol. 2A: FPREM/FPREM1, FXTRACT and the transcendentals FSIN, FCOS,
/// FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1. Stack handling is shared by shape: replace ST(0), combine ST(0)
/// and ST(1) (into ST(0), or into ST(1) and pop), or replace ST(0) and push a second result. An empty operand is a
/// stack underflow (C1 = 0) and a full ST(7) on a push a stack overflow (C1 = 1); with IE masked the results are
/// the indefinite, with it unmasked (or any other unmasked exception the operation raises) the stack is unchanged.
/// The transcendentals evaluate in BigInteger arithmetic (Float80.Transcendental): they allocate, which is
/// accepted for these rare, slow-on-hardware instructions.
/// </summary>
public static class FpuFunctions
{
    public const byte Sine = 0, Cosine = 1, TwoToXMinusOne = 2;
    public const byte Remainder = 0, Remainder1 = 1, Arctangent = 2, Log2 = 3, Log2PlusOne = 4;
    public const byte SineCosine = 0, Tangent = 1, Extract = 2;

    /// <summary>FSIN, FCOS, F2XM1 (Aux): ST(0) = f(ST(0)).</summary>
    public static bool Unary(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        if (c.StEmpty(0))
        {
            Fpu.Underflow(ref st);
            if (op.Aux != TwoToXMinusOne) st &= ~X87Status.C2;
            if (Fpu.Masked(c, X87Status.Invalid)) Set(c, 0, Float80.Indefinite);
            Fpu.Commit(c, st);
            return true;
        }
        var x = c.St(0);
        var cw = Fpu.Control(c);
        var before = st;
        Float80 r = op.Aux switch
        {
            Sine => Float80.Sin(x, cw, ref st),
            Cosine => Float80.Cos(x, cw, ref st),
            _ => Float80.TwoToXMinusOne(x, cw, ref st),
        };
        if (!cw.SuppressesStore(st & ~before, false)) c.St(0) = r;
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>
    /// FPREM, FPREM1 (result in ST(0)); FPATAN, FYL2X, FYL2XP1 (result in ST(1), then pop). Aux = function.
    /// </summary>
    public static bool Binary(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        bool intoSt1 = op.Aux >= Arctangent;
        bool a = Fpu.Operand(c, 0, ref st, out var x);
        bool b = Fpu.Operand(c, 1, ref st, out var y);
        if (c.StEmpty(0) || c.StEmpty(1))
        {
            // FPREM/FPREM1 also clear C2 (C0 and C3 stay, as for any operand that is not reduced).
            if (op.Aux <= Remainder1) st &= ~X87Status.C2;
            if (a && b) Finish(c, intoSt1, Float80.Indefinite, ref st);
            Fpu.Commit(c, st);
            return true;
        }
        var cw = Fpu.Control(c);
        var before = st;
        Float80 r = op.Aux switch
        {
            Remainder => Float80.Remainder(x, y, false, cw, ref st),
            Remainder1 => Float80.Remainder(x, y, true, cw, ref st),
            Arctangent => Float80.PartialArctangent(x, y, cw, ref st),
            Log2 => Float80.Log2Multiply(x, y, cw, ref st),
            _ => Float80.Log2PlusOneMultiply(x, y, cw, ref st),
        };
        if (!cw.SuppressesStore(st & ~before, false)) Finish(c, intoSt1, r, ref st);
        Fpu.Commit(c, st);
        return true;
    }

    private static void Finish(CpuContext c, bool intoSt1, Float80 r, ref X87Status st)
    {
        Set(c, intoSt1 ? 1 : 0, r);
        if (intoSt1) Fpu.Pop(c, ref st);
    }

    /// <summary>
    /// FSINCOS (ST(0) = sin, push cos), FPTAN (ST(0) = tan, push 1.0 - or the NaN result), FXTRACT (ST(0) = exponent, push significand).
    /// An out-of-range operand of FSINCOS/FPTAN (C2 = 1) leaves the stack as it was.
    /// </summary>
    public static bool PushPair(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        var cw = Fpu.Control(c);
        if (c.StEmpty(0) || !c.StEmpty(7))
        {
            // Stack fault: underflow reported before overflow; both results are the indefinite.
            if (c.StEmpty(0)) Fpu.Underflow(ref st);
            else st |= X87Status.Invalid | X87Status.StackFault | X87Status.C1;
            if (op.Aux != Extract) st &= ~X87Status.C2;
            if (cw.IsMasked(X87Status.Invalid))
            {
                Set(c, 0, Float80.Indefinite);
                PushValue(c, Float80.Indefinite, ref st);
            }
            Fpu.Commit(c, st);
            return true;
        }
        var x = c.St(0);
        var before = st;
        Float80 first, second;
        switch (op.Aux)
        {
            case SineCosine:
                first = Float80.SinCos(x, cw, ref st, out second);
                break;
            case Tangent:
                first = Float80.Tan(x, cw, ref st);
                // A NaN result (NaN operand, or the indefinite for an infinity) is pushed in place of 1.0.
                second = first.IsNaN ? first : Float80.One;
                break;
            default:
                second = Float80.Extract(x, cw, ref st, out first);
                break;
        }
        if (!cw.SuppressesStore(st & ~before, false))
        {
            c.St(0) = first;
            if (op.Aux == Extract || (st & X87Status.C2) == 0) PushValue(c, second, ref st);
        }
        Fpu.Commit(c, st);
        return true;
    }

    private static void PushValue(CpuContext c, Float80 value, ref X87Status st)
    {
        c.FpuTop = c.FpuTop - 1;
        st = (st & ~Fpu.Top) | (X87Status)(c.FpuTop << 11);
        Set(c, 0, value);
    }

    private static void Set(CpuContext c, int i, Float80 value)
    {
        c.St(i) = value;
        c.SetStValid(i, true);
    }
}
