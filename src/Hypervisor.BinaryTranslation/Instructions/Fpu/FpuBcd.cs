using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>FBLD and FBSTP: 18-digit packed BCD integers (Intel SDM Vol. 2A, <see cref="Float80.FromPackedBcd"/>).</summary>
public static class FpuBcd
{
    public static bool Load(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        ulong lin = Addressing.Linear(c, ref op);
        if (!c.Read<ulong>(lin, out ulong low) || !c.Read<ushort>(lin + 8, out ulong high)) return false;
        Fpu.Push(c, Float80.FromPackedBcd(low, (ushort)high), ref st);
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>FBSTP: an unmasked invalid (or precision) exception leaves memory and the stack unchanged.</summary>
    public static bool StorePop(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        var cw = Fpu.Control(c);
        var before = st;
        st &= ~X87Status.C1;
        ulong low, high16;
        if (c.StEmpty(0))
        {
            Fpu.Underflow(ref st);
            if (!cw.IsMasked(X87Status.Invalid))
            {
                Fpu.Commit(c, st);
                return true;
            }
            low = Float80.BcdIndefiniteLow;
            high16 = Float80.BcdIndefiniteHigh;
        }
        else
        {
            Float80.ToPackedBcd(c.St(0), cw, ref st, out low, out ushort high);
            high16 = high;
            if (cw.SuppressesStore(st & ~before, true))
            {
                Fpu.Commit(c, st);
                return true;
            }
        }
        ulong lin = Addressing.Linear(c, ref op);
        if (!c.ProbeWrite(lin, 10) || !c.Write<ulong>(lin, low) || !c.Write<ushort>(lin + 8, high16)) return false;
        Fpu.Pop(c, ref st);
        Fpu.Commit(c, st);
        return true;
    }
}
