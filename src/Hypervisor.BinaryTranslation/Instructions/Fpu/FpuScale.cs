using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>
/// FSCALE (Intel SDM Vol. 2A): ST(0) * 2^trunc(ST(1)), exact against the host. The transcendental
/// instructions are evaluated by Float80 within the SDM's 1-ulp bound but not bit-exact with every CPU, so they
/// are bound once the harness compares them with that tolerance.
/// </summary>
public static class FpuScale
{
    /// <summary>ST(0) = FSCALE(ST(0), ST(1)).</summary>
    public static bool TwoOperand(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        bool a = Fpu.Operand(c, 0, ref st, out var x);
        bool b = Fpu.Operand(c, 1, ref st, out var y);
        if (c.StEmpty(0) || c.StEmpty(1))
        {
            if (a && b)
            {
                c.St(0) = Float80.Indefinite;
                c.SetStValid(0, true);
            }
            Fpu.Commit(c, st);
            return true;
        }
        var cw = Fpu.Control(c);
        var before = st;
        var r = Float80.Scale(x, y, cw, ref st);
        if (!cw.SuppressesStore(st & ~before, false)) c.St(0) = r;
        Fpu.Commit(c, st);
        return true;
    }
}
