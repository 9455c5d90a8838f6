using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>
/// FNSTSW/FNSTCW/FLDCW, FNINIT, FNCLEX, FINCSTP/FDECSTP, FNOP, FWAIT. The "no-wait" forms do not check for a
/// pending exception; the waiting forms (FSTSW, FINIT...) are FWAIT + the no-wait form, which Iced decodes as one
/// instruction (Cond = 1: wait first).
/// </summary>
public static class FpuControl
{
    private static bool Wait(CpuContext c, ref Op op) => op.Cond == 0 || Fpu.Begin(c, out _);

    public static bool StoreStatusToAx(CpuContext c, ref Op op)
    {
        if (!Wait(c, ref op)) return false;
        c.SetReg<ushort>(0, c.Fsw);
        return true;
    }

    public static bool StoreStatus(CpuContext c, ref Op op) =>
        Wait(c, ref op) && c.Write<ushort>(Addressing.Linear(c, ref op), c.Fsw);

    public static bool StoreControl(CpuContext c, ref Op op) =>
        Wait(c, ref op) && c.Write<ushort>(Addressing.Linear(c, ref op), c.Fcw);

    /// <summary>FLDCW: unmasking a flagged exception makes it pending (ES), reported by the next waiting instruction.</summary>
    public static bool LoadControl(CpuContext c, ref Op op)
    {
        if (!c.Read<ushort>(Addressing.Linear(c, ref op), out ulong v)) return false;
        // Bits 6 and 13-15 are reserved; bit 6 reads as 1 on every processor since the 80387.
        c.Fcw = (ushort)((v & 0x1F3F) | 0x40);
        Fpu.Commit(c, (X87Status)c.Fsw);
        return true;
    }

    public static bool Init(CpuContext c, ref Op op)
    {
        if (!Wait(c, ref op)) return false;
        c.FpuInit();
        return true;
    }

    public static bool ClearExceptions(CpuContext c, ref Op op)
    {
        if (!Wait(c, ref op)) return false;
        c.Fsw &= 0x7F00;
        return true;
    }

    /// <summary>FINCSTP (Aux 1) / FDECSTP (Aux 0xFF): TOP moves, tags stay, C1 cleared.</summary>
    public static bool MoveTop(CpuContext c, ref Op op)
    {
        if (!Fpu.Begin(c, out _)) return false;
        c.FpuTop = c.FpuTop + (sbyte)op.Aux;
        c.Fsw &= unchecked((ushort)~0x200);
        return true;
    }

    /// <summary>FWAIT and FNOP: only the pending-exception check.</summary>
    public static bool WaitOnly(CpuContext c, ref Op op) => Fpu.Begin(c, out _);
}
