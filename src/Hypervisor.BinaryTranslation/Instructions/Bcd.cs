using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>
/// AAA/AAS/DAA/DAS/AAM/AAD (Intel SDM Vol. 2A), which do not exist in 64-bit mode (#UD there; Iced's 64-bit
/// decoder already reports them invalid). Undefined flags: AAA/AAS keep OF and set SF/ZF/PF from AL; DAA/DAS
/// keep OF; AAM/AAD clear OF, AF and CF.
/// </summary>
public static unsafe class Bcd
{
    private static bool Af(ulong flags) => (flags & FlagBits.AF) != 0;

    private static bool Cf(ulong flags) => (flags & FlagBits.CF) != 0;

    public static bool Aaa(CpuContext c, ref Op op)
    {
        ulong f = c.GetRflags();
        ulong ax = c.GetReg<ushort>(0);
        bool adjust = (ax & 0xF) > 9 || Af(f);
        if (adjust) ax += 0x106;
        ax &= 0xFF0F;
        c.SetReg<ushort>(0, ax);
        ulong status = (f & FlagBits.OF) | LazyFlags.SignZeroParity(ax & 0xFF, 0);
        if (adjust) status |= FlagBits.AF | FlagBits.CF;
        c.SetStatusFlags(status);
        return true;
    }

    public static bool Aas(CpuContext c, ref Op op)
    {
        ulong f = c.GetRflags();
        ulong ax = c.GetReg<ushort>(0);
        bool adjust = (ax & 0xF) > 9 || Af(f);
        if (adjust)
        {
            ulong al = (ax - 6) & 0xFF;
            ulong ah = ((ax >> 8) - 1) & 0xFF;
            ax = ah << 8 | al;
        }
        ax &= 0xFF0F;
        c.SetReg<ushort>(0, ax);
        ulong status = (f & FlagBits.OF) | LazyFlags.SignZeroParity(ax & 0xFF, 0);
        if (adjust) status |= FlagBits.AF | FlagBits.CF;
        c.SetStatusFlags(status);
        return true;
    }

    /// <summary>DAA/DAS (Cond 0/1) per the SDM's Operation section, using the original AL for the high-digit test.</summary>
    public static bool DecimalAdjust(CpuContext c, ref Op op)
    {
        bool subtract = op.Cond != 0;
        ulong f = c.GetRflags();
        ulong oldAl = c.GetReg<byte>(0), al = oldAl;
        bool oldCf = Cf(f), cf = false, af = false;
        if ((al & 0xF) > 9 || Af(f))
        {
            if (subtract)
            {
                cf = oldCf || al < 6;
                al = (al - 6) & 0xFF;
            }
            else
            {
                cf = oldCf || al + 6 > 0xFF;
                al = (al + 6) & 0xFF;
            }
            af = true;
        }
        if (oldAl > 0x99 || oldCf)
        {
            al = (subtract ? al - 0x60 : al + 0x60) & 0xFF;
            cf = true;
        }
        else if (!subtract) cf = false;
        c.SetReg<byte>(0, al);
        ulong status = (f & FlagBits.OF) | LazyFlags.SignZeroParity(al, 0);
        if (cf) status |= FlagBits.CF;
        if (af) status |= FlagBits.AF;
        c.SetStatusFlags(status);
        return true;
    }

    public static bool Aam(CpuContext c, ref Op op)
    {
        ulong imm = op.Imm & 0xFF;
        if (imm == 0) return c.Fault(Vectors.DivideError);
        ulong al = c.GetReg<byte>(0);
        ulong q = al / imm, r = al % imm;
        c.SetReg<ushort>(0, q << 8 | r);
        c.SetStatusFlags(LazyFlags.SignZeroParity(r, 0));
        return true;
    }

    public static bool Aad(CpuContext c, ref Op op)
    {
        ulong imm = op.Imm & 0xFF;
        ulong ax = c.GetReg<ushort>(0);
        ulong al = ((ax & 0xFF) + (ax >> 8) * imm) & 0xFF;
        c.SetReg<ushort>(0, al);
        c.SetStatusFlags(LazyFlags.SignZeroParity(al, 0));
        return true;
    }

    internal static bool Bind(in Instruction ins, ref Op op, in BindContext ctx)
    {
        if (ctx.Mode == CpuMode.Long64) return false;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Aaa: op.Handler = &Aaa; return true;
            case Mnemonic.Aas: op.Handler = &Aas; return true;
            case Mnemonic.Daa: op.Cond = 0; op.Handler = &DecimalAdjust; return true;
            case Mnemonic.Das: op.Cond = 1; op.Handler = &DecimalAdjust; return true;
            case Mnemonic.Aam: op.Handler = &Aam; return true;
            case Mnemonic.Aad: op.Handler = &Aad; return true;
        }
        return false;
    }
}
