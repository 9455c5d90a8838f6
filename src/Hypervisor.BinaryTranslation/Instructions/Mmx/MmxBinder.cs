using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Instructions.Sse;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;
using static Hypervisor.BinaryTranslation.Instructions.Sse.PackedInteger;

namespace Hypervisor.BinaryTranslation.Instructions.Mmx;

/// <summary>
/// Binds the instructions with an MM operand (MMX, the SSE/SSE2 additions on MM, the MM/XMM conversions) and
/// EMMS. MM and XMM operands go into R0/R1 as register numbers. Availability (Intel SDM Vol. 3, 2.5 and 13.1.4),
/// decided at decode time from the mode key: CR0.EM raises #UD; CR4.OSFXSR = 0 raises #UD for the SSE/SSE2
/// instructions among them except PSHUFW and MOVNTQ; then CR0.TS raises #NM.
/// </summary>
public static unsafe class MmxBinder
{
    internal static bool Bind(in Instruction ins, ref Op op, in BindContext ctx)
    {
        bool anyMm = ins.Mnemonic == Mnemonic.Emms;
        for (int i = 0; i < ins.OpCount; i++)
            if (ins.GetOpKind(i) == OpKind.Register && ins.GetOpRegister(i).IsMM()) anyMm = true;
        // CVTPI2PS/PD xmm, m64 name no MM register but belong here all the same.
        anyMm |= ins.Mnemonic is Mnemonic.Cvtpi2ps or Mnemonic.Cvtpi2pd;
        if (!anyMm) return false;

        byte gpr0 = op.R0, gpr1 = op.R1;
        if (ins.OpCount > 0 && ins.Op0Kind == OpKind.Register) op.R0 = Number(ins.Op0Register, gpr0);
        if (ins.OpCount > 1 && ins.Op1Kind == OpKind.Register) op.R1 = Number(ins.Op1Register, gpr1);

        bool bound = Packed(ins, ref op) || Move(ins, ref op, ctx) || MmxConvert.Bind(ins, ref op);
        if (!bound) return false;
        if (ctx.FpuEmulated || (!ctx.SseEnabled && NeedsOsfxsr(ins))) op.Handler = &Misc.InvalidOpcode;
        else if (ctx.TaskSwitched) op.Handler = &SseBinder.DeviceNotAvailable;
        return true;
    }

    /// <summary>MMn and XMMn by number; a GPR keeps the byte offset the common binder gave it.</summary>
    private static byte Number(Register r, byte gpr) =>
        r.IsMM() ? (byte)(r - Register.MM0) : r.IsXMM() ? (byte)(r - Register.XMM0) : gpr;

    /// <summary>The instructions SSE/SSE2 added (CPUID SSE/SSE2, not MMX), which CR4.OSFXSR gates.</summary>
    private static bool NeedsOsfxsr(in Instruction ins)
    {
        if (ins.Mnemonic is Mnemonic.Pshufw or Mnemonic.Movntq) return false;
        // PADDQ mm is SSE2 (SDM Vol. 2), though Iced files it under MMX.
        if (ins.Mnemonic == Mnemonic.Paddq) return true;
        foreach (var f in ins.Code.CpuidFeatures())
            if (f is CpuidFeature.SSE or CpuidFeature.SSE2) return true;
        return false;
    }

    private static bool Packed(in Instruction ins, ref Op op)
    {
        bool imm = ins.OpCount == 2 && OperandForms.IsImmediate(ins.Op1Kind);
        bool memory = ins.OpCount == 2 && ins.Op1Kind == OpKind.Memory;
        op.Handler = ins.Mnemonic switch
        {
            Mnemonic.Paddb => Form<Lane<PaddbOp>>(memory),
            Mnemonic.Paddw => Form<Lane<PaddwOp>>(memory),
            Mnemonic.Paddd => Form<Lane<PadddOp>>(memory),
            Mnemonic.Paddq => Form<Lane<PaddqOp>>(memory),
            Mnemonic.Psubb => Form<Lane<PsubbOp>>(memory),
            Mnemonic.Psubw => Form<Lane<PsubwOp>>(memory),
            Mnemonic.Psubd => Form<Lane<PsubdOp>>(memory),
            Mnemonic.Psubq => Form<Lane<PsubqOp>>(memory),
            Mnemonic.Paddsb => Form<Lane<PaddsbOp>>(memory),
            Mnemonic.Paddsw => Form<Lane<PaddswOp>>(memory),
            Mnemonic.Paddusb => Form<Lane<PaddusbOp>>(memory),
            Mnemonic.Paddusw => Form<Lane<PadduswOp>>(memory),
            Mnemonic.Psubsb => Form<Lane<PsubsbOp>>(memory),
            Mnemonic.Psubsw => Form<Lane<PsubswOp>>(memory),
            Mnemonic.Psubusb => Form<Lane<PsubusbOp>>(memory),
            Mnemonic.Psubusw => Form<Lane<PsubuswOp>>(memory),
            Mnemonic.Pcmpeqb => Form<Lane<PcmpeqbOp>>(memory),
            Mnemonic.Pcmpeqw => Form<Lane<PcmpeqwOp>>(memory),
            Mnemonic.Pcmpeqd => Form<Lane<PcmpeqdOp>>(memory),
            Mnemonic.Pcmpgtb => Form<Lane<PcmpgtbOp>>(memory),
            Mnemonic.Pcmpgtw => Form<Lane<PcmpgtwOp>>(memory),
            Mnemonic.Pcmpgtd => Form<Lane<PcmpgtdOp>>(memory),
            Mnemonic.Pmullw => Form<Lane<PmullwOp>>(memory),
            Mnemonic.Pmulhw => Form<Lane<PmulhwOp>>(memory),
            Mnemonic.Pmulhuw => Form<Lane<PmulhuwOp>>(memory),
            Mnemonic.Pmuludq => Form<Lane<PmuludqOp>>(memory),
            Mnemonic.Pmaddwd => Form<Lane<PmaddwdOp>>(memory),
            Mnemonic.Pavgb => Form<Lane<PavgbOp>>(memory),
            Mnemonic.Pavgw => Form<Lane<PavgwOp>>(memory),
            Mnemonic.Pmaxub => Form<Lane<PmaxubOp>>(memory),
            Mnemonic.Pminub => Form<Lane<PminubOp>>(memory),
            Mnemonic.Pmaxsw => Form<Lane<PmaxswOp>>(memory),
            Mnemonic.Pminsw => Form<Lane<PminswOp>>(memory),
            Mnemonic.Psadbw => Form<Lane<PsadbwOp>>(memory),
            Mnemonic.Punpcklbw => memory ? &MmxPacked.Memory32<Lane<PunpcklbwOp>> : &MmxPacked.Register<Lane<PunpcklbwOp>>,
            Mnemonic.Punpcklwd => memory ? &MmxPacked.Memory32<Lane<PunpcklwdOp>> : &MmxPacked.Register<Lane<PunpcklwdOp>>,
            Mnemonic.Punpckldq => memory ? &MmxPacked.Memory32<Lane<PunpckldqOp>> : &MmxPacked.Register<Lane<PunpckldqOp>>,
            Mnemonic.Punpckhbw => Form<HighUnpack<PunpcklbwOp>>(memory),
            Mnemonic.Punpckhwd => Form<HighUnpack<PunpcklwdOp>>(memory),
            Mnemonic.Punpckhdq => Form<HighUnpack<PunpckldqOp>>(memory),
            Mnemonic.Packsswb => Form<Pack<PacksswbOp>>(memory),
            Mnemonic.Packssdw => Form<Pack<PackssdwOp>>(memory),
            Mnemonic.Packuswb => Form<Pack<PackuswbOp>>(memory),
            Mnemonic.Pand => Form<Lane<PandOp>>(memory),
            Mnemonic.Pandn => Form<Lane<PandnOp>>(memory),
            Mnemonic.Por => Form<Lane<PorOp>>(memory),
            Mnemonic.Pxor => Form<Lane<PxorOp>>(memory),
            Mnemonic.Psllw => Shift<Lane<PsllwOp>>(imm, memory),
            Mnemonic.Pslld => Shift<Lane<PslldOp>>(imm, memory),
            Mnemonic.Psllq => Shift<Lane<PsllqOp>>(imm, memory),
            Mnemonic.Psrlw => Shift<Lane<PsrlwOp>>(imm, memory),
            Mnemonic.Psrld => Shift<Lane<PsrldOp>>(imm, memory),
            Mnemonic.Psrlq => Shift<Lane<PsrlqOp>>(imm, memory),
            Mnemonic.Psraw => Shift<Lane<PsrawOp>>(imm, memory),
            Mnemonic.Psrad => Shift<Lane<PsradOp>>(imm, memory),
            _ => null,
        };
        return op.Handler != null;
    }

    private static delegate*<CpuContext, ref Op, bool> Form<TOp>(bool memory) where TOp : struct, IMmxOp =>
        memory ? &MmxPacked.Memory<TOp> : &MmxPacked.Register<TOp>;

    private static delegate*<CpuContext, ref Op, bool> Shift<TOp>(bool imm, bool memory) where TOp : struct, IMmxOp =>
        imm ? &MmxPacked.Immediate<TOp> : Form<TOp>(memory);

    private static bool Move(in Instruction ins, ref Op op, in BindContext ctx)
    {
        var k0 = ins.OpCount > 0 ? ins.Op0Kind : OpKind.Register;
        var k1 = ins.OpCount > 1 ? ins.Op1Kind : OpKind.Register;
        bool load = k1 == OpKind.Memory, store = k0 == OpKind.Memory;
        bool mm0 = k0 == OpKind.Register && ins.OpCount > 0 && ins.Op0Register.IsMM();
        bool mm1 = k1 == OpKind.Register && ins.OpCount > 1 && ins.Op1Register.IsMM();
        switch (ins.Mnemonic)
        {
            case Mnemonic.Emms: op.Handler = &MmxMove.Emms; return true;
            case Mnemonic.Movd: case Mnemonic.Movq:
            {
                bool wide = ins.Mnemonic == Mnemonic.Movq;
                if (mm0 && mm1) op.Handler = &MmxMove.MovqRegReg;
                else if (mm0)
                    op.Handler = (wide, load) switch
                    {
                        (false, false) => &MmxMove.ToMm<uint, FromReg>, (false, true) => &MmxMove.ToMm<uint, FromMem>,
                        (true, false) => &MmxMove.ToMm<ulong, FromReg>, _ => &MmxMove.ToMm<ulong, FromMem>,
                    };
                else if (mm1)
                    op.Handler = (wide, store) switch
                    {
                        (false, false) => &MmxMove.MmToReg<uint>, (false, true) => &MmxMove.MmToMem<uint>,
                        (true, false) => &MmxMove.MmToReg<ulong>, _ => &MmxMove.MmToMem<ulong>,
                    };
                else return false;
                return true;
            }
            case Mnemonic.Movntq when store && mm1: op.Handler = &MmxMove.MmToMem<ulong>; return true;
            case Mnemonic.Pextrw when mm1 && k0 == OpKind.Register && ins.Op0Register.IsGPR():
                op.Handler = &MmxMove.Pextrw;
                return true;
            case Mnemonic.Pinsrw when mm0:
                op.Handler = load ? &MmxMove.Pinsrw<FromMem> : &MmxMove.Pinsrw<FromReg>;
                return true;
            case Mnemonic.Pmovmskb when mm1: op.Handler = &MmxMove.Pmovmskb; return true;
            case Mnemonic.Pshufw when mm0:
                op.Aux2 = load ? (ushort)1 : (ushort)0;
                op.Handler = &MmxMove.Pshufw;
                return true;
            case Mnemonic.Movq2dq: op.Handler = &MmxMove.Movq2dq; return true;
            case Mnemonic.Movdq2q: op.Handler = &MmxMove.Movdq2q; return true;
            case Mnemonic.Maskmovq:
            {
                // Operands: DS:rDI (implicit), mm1 (data), mm2 (mask).
                op.R0 = (byte)(ins.Op1Register - Register.MM0);
                op.R1 = (byte)(ins.Op2Register - Register.MM0);
                int addressBits = ins.Op0Kind switch
                {
                    OpKind.MemorySegDI => 16, OpKind.MemorySegEDI => 32, _ => 64,
                };
                op.AddrShift = (byte)(64 - addressBits);
                op.Seg = (byte)(ins.MemorySegment - Register.ES);
                op.Base = OpBinder.RegOffset(Register.RDI);
                op.Index = RegisterFile.ZeroOffset;
                op.Scale = 0;
                op.Disp = 0;
                op.Handler = &MmxMove.Maskmovq;
                return true;
            }
        }
        return false;
    }
}
