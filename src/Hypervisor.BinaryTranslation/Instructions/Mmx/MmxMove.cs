using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Instructions.Mmx;

/// <summary>
/// MMX data movement (Intel SDM Vol. 2): MOVD/MOVQ between MM registers, GPRs and memory, the SSE-era PEXTRW,
/// PINSRW, PMOVMSKB, PSHUFW, MASKMOVQ and MOVNTQ, SSE2's MOVQ2DQ/MOVDQ2Q, and EMMS. A GPR operand is a byte
/// offset in R0 or R1 as elsewhere, an MM or XMM operand a register number. Instructions that only read an MM
/// register make the x87-to-MMX transition too (SDM Vol. 1, Table 9-2), but leave its exponent alone.
/// </summary>
public static unsafe class MmxMove
{
    public static bool MovqRegReg(CpuContext c, ref Op op)
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        c.EnterMmx();
        c.SetMm(op.R0, c.Mm(op.R1));
        return true;
    }

    /// <summary>MOVD/MOVQ mm, r/m32/64 and MOVQ mm, m64: zero-extended into the register.</summary>
    public static bool ToMm<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        if (!TSrc.Get<T>(c, ref op, out ulong v)) return false;
        c.EnterMmx();
        c.SetMm(op.R0, v);
        return true;
    }

    /// <summary>MOVD/MOVQ r32/r64, mm (R0 = GPR offset, R1 = MM register).</summary>
    public static bool MmToReg<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        c.EnterMmx();
        c.SetReg<T>(op.R0, c.Mm(op.R1));
        return true;
    }

    /// <summary>MOVD m32, mm; MOVQ m64, mm; MOVNTQ m64, mm (the non-temporal hint changes nothing visible).</summary>
    public static bool MmToMem<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        if (!c.Write<T>(Addressing.Linear(c, ref op), c.Mm(op.R1))) return false;
        c.EnterMmx();
        return true;
    }

    /// <summary>PEXTRW r32, mm, imm8: word imm8[1:0], zero-extended.</summary>
    public static bool Pextrw(CpuContext c, ref Op op)
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        c.EnterMmx();
        c.SetReg<uint>(op.R0, (ushort)(c.Mm(op.R1) >> (int)((op.Imm & 3) * 16)));
        return true;
    }

    /// <summary>PINSRW mm, r32/m16, imm8: the low word of the source into word imm8[1:0].</summary>
    public static bool Pinsrw<TSrc>(CpuContext c, ref Op op) where TSrc : struct, ISource
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        if (!TSrc.Get<ushort>(c, ref op, out ulong v)) return false;
        int shift = (int)((op.Imm & 3) * 16);
        c.EnterMmx();
        c.SetMm(op.R0, (c.Mm(op.R0) & ~(0xFFFFUL << shift)) | (v & 0xFFFF) << shift);
        return true;
    }

    /// <summary>PMOVMSKB r32, mm: the eight byte sign bits, zero-extended.</summary>
    public static bool Pmovmskb(CpuContext c, ref Op op)
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        c.EnterMmx();
        c.SetReg<uint>(op.R0, (uint)Sse2.MoveMask(Vector128.CreateScalar(c.Mm(op.R1)).AsByte()));
        return true;
    }

    /// <summary>PSHUFW mm, mm/m64, imm8 (Aux2 = 1 for a memory source): word i = source word imm8[2i+1:2i].</summary>
    public static bool Pshufw(CpuContext c, ref Op op)
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        ulong s;
        if (op.Aux2 == 0) s = c.Mm(op.R1);
        else if (!c.Read<ulong>(Addressing.Linear(c, ref op), out s)) return false;
        int imm = (int)op.Imm;
        ulong r = 0;
        for (int i = 0; i < 4; i++) r |= ((s >> ((imm >> (2 * i) & 3) * 16)) & 0xFFFF) << (16 * i);
        c.EnterMmx();
        c.SetMm(op.R0, r);
        return true;
    }

    /// <summary>
    /// MASKMOVQ mm1, mm2: the bytes of mm1 whose mask byte in mm2 has bit 7 set are stored at DS:rDI (the base
    /// register and address size are in the op, the segment may be overridden). The whole quadword is checked for
    /// writability first, so a fault leaves memory unchanged; an all-zero mask touches no memory.
    /// </summary>
    public static bool Maskmovq(CpuContext c, ref Op op)
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        ulong data = c.Mm(op.R0);
        uint mask = (uint)Sse2.MoveMask(Vector128.CreateScalar(c.Mm(op.R1)).AsByte());
        if (mask != 0)
        {
            ulong lin = Addressing.Linear(c, ref op);
            if (!c.ProbeWrite(lin, 8)) return false;
            for (int i = 0; i < 8; i++)
                if ((mask & (1u << i)) != 0 && !c.Write<byte>((lin + (ulong)i) & c.LinearMask, data >> (8 * i)))
                    return false;
        }
        c.EnterMmx();
        return true;
    }

    /// <summary>MOVQ2DQ xmm, mm: the quadword zero-extended into the XMM register.</summary>
    public static bool Movq2dq(CpuContext c, ref Op op)
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        c.EnterMmx();
        c.XmmReg(op.R0) = Vector128.CreateScalar(c.Mm(op.R1)).AsByte();
        return true;
    }

    /// <summary>MOVDQ2Q mm, xmm: the low quadword of the XMM register.</summary>
    public static bool Movdq2q(CpuContext c, ref Op op)
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        c.EnterMmx();
        c.SetMm(op.R0, c.XmmReg(op.R1).AsUInt64().ToScalar());
        return true;
    }

    /// <summary>EMMS: every tag empty and TOP = 0 (SDM Vol. 1, Table 9-2); the registers keep their contents.</summary>
    public static bool Emms(CpuContext c, ref Op op)
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        c.Fsw &= 0xC7FF;
        c.FpuValid = 0;
        return true;
    }
}
