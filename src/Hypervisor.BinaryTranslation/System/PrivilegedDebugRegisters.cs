using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// MOV to/from DR0-DR7 (Intel SDM Vol. 2B MOV—Move to/from Debug Registers; Vol. 3, 19.2). The registers hold
/// what software writes, with DR6/DR7's fixed bits; a write to DR0-DR3 or DR7 re-arms the breakpoints
/// (<see cref="DebugBreakpoints.Refresh"/>) and ends the block, so a breakpoint on the very next instruction is seen.
/// Op.Cond = register number, Op.Aux = 1 for a 64-bit operand; the GPR is R0 (from DR) or R1 (to DR).
/// </summary>
public static class DebugRegisters
{
    /// <summary>DR6 bits that read as 1 (Intel, without RTM or bus-lock detection): 31:16 and 11:4.</summary>
    public const ulong Dr6Fixed1 = 0xFFFF_0FF0;

    /// <summary>DR6 bits software can change: B0-B3, BD, BS, BT.</summary>
    public const ulong Dr6Writable = 0xE00F;

    /// <summary>DR7 bit 10 reads as 1; bits 11, 12, 14 and 15 read as 0.</summary>
    public const ulong Dr7Fixed1 = 0x400;

    public const ulong Dr7Writable = 0xFFFF_2BFF;

    /// <summary>DR7.GD: general detect, any MOV DR raises #DB first.</summary>
    public const ulong Dr7Gd = 1UL << 13;

    /// <summary>DR6.BD: the #DB was a general-detect condition.</summary>
    public const ulong Dr6Bd = 1UL << 13;

    /// <summary>
    /// The checks MOV DR makes, in the SDM's order: CPL 0 (#GP, also in virtual-8086 mode), DR4/DR5 with CR4.DE
    /// (#UD; without DE they alias DR6/DR7), DR7.GD (#DB fault with DR6.BD set and GD cleared so the handler can
    /// use the registers). Returns the effective register number, or -1 with the fault raised.
    /// </summary>
    private static int Check(CpuContext c, int register)
    {
        var a = c.Architectural;
        if (c.Cpl != 0) return Raise(c.Fault(Vectors.GeneralProtection, 0));
        if (register is 4 or 5)
        {
            if ((a.Cr4 & ControlRegisters.Cr4De) != 0) return Raise(c.Fault(Vectors.InvalidOpcode));
            register += 2;
        }
        if ((a.Dr7 & Dr7Gd) != 0)
        {
            // A fault-class #DB: the frame gets RF = 1 (SDM 19.3.1.1), DR6.BD is set and GD cleared.
            DebugBreakpoints.Report(c, Dr6Bd);
            c.Rflags |= Flags.FlagBits.RF;
            return Raise(c.Fault(Vectors.Debug));
        }
        return register;
    }

    private static int Raise(bool _) => -1;

    public static bool MovFromDr(CpuContext c, ref Op op)
    {
        int register = Check(c, op.Cond);
        if (register < 0) return false;
        var a = c.Architectural;
        ulong value = register switch
        {
            0 => a.Dr0, 1 => a.Dr1, 2 => a.Dr2, 3 => a.Dr3, 6 => a.Dr6, _ => a.Dr7,
        };
        if (op.Aux != 0) c.SetReg<ulong>(op.R0, value);
        else c.SetReg<uint>(op.R0, value);
        return true;
    }

    public static bool MovToDr(CpuContext c, ref Op op)
    {
        int register = Check(c, op.Cond);
        if (register < 0) return false;
        var a = c.Architectural;
        ulong value = op.Aux != 0 ? c.GetReg<ulong>(op.R1) : c.GetReg<uint>(op.R1);
        switch (register)
        {
            case 0: a.Dr0 = value; break;
            case 1: a.Dr1 = value; break;
            case 2: a.Dr2 = value; break;
            case 3: a.Dr3 = value; break;
            case 6:
                // Bits 63:32 of DR6 and DR7 are reserved: #GP(0) in 64-bit mode.
                if (value >> 32 != 0) return c.Fault(Vectors.GeneralProtection, 0);
                a.Dr6 = (value & Dr6Writable) | Dr6Fixed1;
                break;
            default:
                if (value >> 32 != 0) return c.Fault(Vectors.GeneralProtection, 0);
                a.Dr7 = (value & Dr7Writable) | Dr7Fixed1;
                break;
        }
        if (register == 6) return true;
        DebugBreakpoints.Refresh(c);
        return false;
    }
}
