using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>Memory operand formats of x87 instructions (Op.Aux).</summary>
public enum FpuMemory : byte { None, Float32, Float64, Float80, Int16, Int32, Int64 }

/// <summary>
/// The x87 register stack and status handling shared by the x87 handlers (Intel SDM Vol. 1, 8.1.3 and 8.5).
/// Arithmetic is <see cref="Float80"/>; a handler works on a copy of FSW and commits it at the end, so a
/// faulting memory access leaves the FPU unchanged. Stack overflow/underflow set IE and SF (C1 = 1 for overflow,
/// 0 for underflow); with IE masked the destination receives the QNaN indefinite.
/// </summary>
public static class Fpu
{
    public const X87Status Top = (X87Status)0x3800;

    public static X87Control Control(CpuContext c) => new(c.Fcw);

    /// <summary>
    /// A pending unmasked exception (FSW.ES) is reported by the next waiting x87 instruction as #MF
    /// (CR0.NE = 1; the external FERR#/IRQ 13 path of CR0.NE = 0 comes with the PIC in P1.4).
    /// </summary>
    public static bool Begin(CpuContext c, out X87Status st)
    {
        st = (X87Status)c.Fsw;
        if ((c.Fsw & 0x80) != 0) return c.Fault(Vectors.FloatingPoint);
        return true;
    }

    /// <summary>Stores the working status word; ES and B follow the unmasked exception flags.</summary>
    public static void Commit(CpuContext c, X87Status st)
    {
        ushort f = (ushort)st;
        if ((f & 0x3F & ~c.Fcw) != 0) f |= 0x8080;
        else f &= 0x7F7F;
        c.Fsw = f;
    }

    public static bool Masked(CpuContext c, X87Status e) => Control(c).IsMasked(e);

    public static void Underflow(ref X87Status st) => st = (st | X87Status.Invalid | X87Status.StackFault) & ~X87Status.C1;

    /// <summary>Reads ST(i) for an operation; an empty register is a stack underflow and yields the indefinite.</summary>
    public static bool Operand(CpuContext c, int i, ref X87Status st, out Float80 value)
    {
        if (!c.StEmpty(i))
        {
            value = c.St(i);
            return true;
        }
        Underflow(ref st);
        value = Float80.Indefinite;
        return Masked(c, X87Status.Invalid);
    }

    /// <summary>Pushes a value (stack overflow when the new ST(0) is in use). Returns false when nothing was pushed.</summary>
    public static bool Push(CpuContext c, Float80 value, ref X87Status st)
    {
        st &= ~X87Status.C1;
        if (!c.StEmpty(7))
        {
            st |= X87Status.Invalid | X87Status.StackFault | X87Status.C1;
            if (!Masked(c, X87Status.Invalid)) return false;
            value = Float80.Indefinite;
        }
        c.FpuTop = c.FpuTop - 1;
        st = (st & ~Top) | (X87Status)(c.FpuTop << 11);
        c.St(0) = value;
        c.SetStValid(0, true);
        return true;
    }

    public static void Pop(CpuContext c, ref X87Status st)
    {
        c.SetStValid(0, false);
        c.FpuTop = c.FpuTop + 1;
        st = (st & ~Top) | (X87Status)(c.FpuTop << 11);
    }

    /// <summary>Loads a memory operand as an 80-bit value (FLD/arithmetic sources); SNaN/denormal checks per format.</summary>
    public static bool ReadMemory(CpuContext c, ref Op op, FpuMemory kind, bool forLoad, ref X87Status st,
        out Float80 value, out bool denormalSource)
    {
        ulong lin = Addressing.Linear(c, ref op);
        denormalSource = false;
        value = default;
        var cw = Control(c);
        switch (kind)
        {
            case FpuMemory.Float32:
                if (!c.Read<uint>(lin, out ulong f32)) return false;
                if (forLoad) value = Float80.FromFloat32Bits((uint)f32, cw, ref st);
                else value = Float80.WidenFloat32((uint)f32, out denormalSource);
                return true;
            case FpuMemory.Float64:
                if (!c.Read<ulong>(lin, out ulong f64)) return false;
                if (forLoad) value = Float80.FromFloat64Bits(f64, cw, ref st);
                else value = Float80.WidenFloat64(f64, out denormalSource);
                return true;
            case FpuMemory.Float80:
            {
                if (!c.Read<ulong>(lin, out ulong lo) || !c.Read<ushort>(lin + 8, out ulong hi)) return false;
                value = new Float80(lo, (ushort)hi);
                return true;
            }
            case FpuMemory.Int16:
                if (!c.Read<ushort>(lin, out ulong i16)) return false;
                value = Float80.FromInt16((short)i16);
                return true;
            case FpuMemory.Int32:
                if (!c.Read<uint>(lin, out ulong i32)) return false;
                value = Float80.FromInt32((int)i32);
                return true;
            default:
                if (!c.Read<ulong>(lin, out ulong i64)) return false;
                value = Float80.FromInt64((long)i64);
                return true;
        }
    }
}
