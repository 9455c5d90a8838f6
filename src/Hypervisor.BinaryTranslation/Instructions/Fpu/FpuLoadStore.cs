using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>FLD/FILD/FLDconst, FST/FSTP/FIST/FISTP/FISTTP, FXCH, FFREE (Intel SDM Vol. 2A).</summary>
public static class FpuLoadStore
{
    /// <summary>FLD/FILD m (Aux = format).</summary>
    public static bool LoadMemory(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        var before = st;
        if (!Fpu.ReadMemory(c, ref op, (FpuMemory)op.Aux, true, ref st, out var v, out _)) return false;
        if (!c.StEmpty(7))
        {
            // Stack overflow takes precedence: the operand's own exceptions (denormal, SNaN) are not reported,
            // as on the host CPU.
            st = before;
            Fpu.Push(c, v, ref st);
        }
        // An unmasked invalid (SNaN) or denormal operand leaves the stack unchanged.
        else if (Fpu.Control(c).Unmasked((st & ~before) & (X87Status.Invalid | X87Status.Denormal)) == 0)
            Fpu.Push(c, v, ref st);
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>
    /// FLD ST(i) (Cond = i): the value is read before the push changes TOP. An empty source is reported as
    /// underflow only - no overflow check on the destination (what the host CPU does).
    /// </summary>
    public static bool LoadRegister(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        if (!c.StEmpty(op.Cond)) Fpu.Push(c, c.St(op.Cond), ref st);
        else if (Fpu.Operand(c, op.Cond, ref st, out var indefinite))
        {
            c.FpuTop = c.FpuTop - 1;
            st = (st & ~Fpu.Top) | (X87Status)(c.FpuTop << 11);
            c.St(0) = indefinite;
            c.SetStValid(0, true);
        }
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ (Aux = constant).</summary>
    public static bool LoadConstant(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        Fpu.Push(c, Float80.LoadConstant((Float80.Constant)op.Aux, Fpu.Control(c)), ref st);
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>
    /// FST/FSTP/FIST/FISTP/FISTTP m (Aux = format, Cond bit 0 = pop, bit 1 = truncate). An unmasked invalid,
    /// denormal, overflow or underflow leaves memory and the stack unchanged.
    /// </summary>
    public static bool StoreMemory(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        var cw = Fpu.Control(c);
        var before = st;
        st &= ~X87Status.C1;
        if (!Fpu.Operand(c, 0, ref st, out var v))
        {
            Fpu.Commit(c, st);
            return true;
        }
        ulong lin = Addressing.Linear(c, ref op);
        bool ok;
        var kind = (FpuMemory)op.Aux;
        switch (kind)
        {
            case FpuMemory.Float32:
            {
                uint bits = Float80.ToFloat32Bits(v, cw, ref st);
                if (cw.SuppressesStore(st & ~before, true)) goto done;
                ok = c.Write<uint>(lin, bits);
                break;
            }
            case FpuMemory.Float64:
            {
                ulong bits = Float80.ToFloat64Bits(v, cw, ref st);
                if (cw.SuppressesStore(st & ~before, true)) goto done;
                ok = c.Write<ulong>(lin, bits);
                break;
            }
            case FpuMemory.Float80:
                ok = c.ProbeWrite(lin, 10) && c.Write<ulong>(lin, v.Significand) && c.Write<ushort>(lin + 8, v.SignExponent);
                break;
            default:
            {
                int bits = kind switch { FpuMemory.Int16 => 16, FpuMemory.Int32 => 32, _ => 64 };
                long value = Float80.ToInteger(v, bits, (op.Cond & 2) != 0, cw, ref st);
                if (cw.SuppressesStore(st & ~before, true)) goto done;
                ok = kind switch
                {
                    FpuMemory.Int16 => c.Write<ushort>(lin, (ulong)value),
                    FpuMemory.Int32 => c.Write<uint>(lin, (ulong)value),
                    _ => c.Write<ulong>(lin, (ulong)value),
                };
                break;
            }
        }
        if (!ok) return false;
        if ((op.Cond & 1) != 0) Fpu.Pop(c, ref st);
        done:
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>FST/FSTP ST(i) (Cond = i, Aux = 1: pop).</summary>
    public static bool StoreRegister(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        st &= ~X87Status.C1;
        if (Fpu.Operand(c, 0, ref st, out var v))
        {
            c.St(op.Cond) = v;
            c.SetStValid(op.Cond, true);
            if (op.Aux != 0) Fpu.Pop(c, ref st);
        }
        Fpu.Commit(c, st);
        return true;
    }

    /// <summary>FXCH ST(i): an empty register takes part as the indefinite (when IE is masked).</summary>
    public static bool Exchange(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out var st)) return false;
        st &= ~X87Status.C1;
        bool a = Fpu.Operand(c, 0, ref st, out var v0);
        bool b = Fpu.Operand(c, op.Cond, ref st, out var vi);
        if (a && b)
        {
            c.St(0) = vi;
            c.St(op.Cond) = v0;
            c.SetStValid(0, true);
            c.SetStValid(op.Cond, true);
        }
        Fpu.Commit(c, st);
        return true;
    }

    public static bool Free(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out _)) return false;
        c.SetStValid(op.Cond, false);
        // C0-C3 are undefined; C1 reads as cleared on the host CPU.
        c.Fsw &= unchecked((ushort)~0x200);
        return true;
    }
}
