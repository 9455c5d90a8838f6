using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// Binds the privileged instructions, RDMSR/WRMSR and IN/OUT. Forms the processor does not have - CR1, CR5-CR7,
/// CR9-CR15, DR8-DR15, CR8 outside 64-bit mode, a LOCK prefix on MOV CR (AMD's CR8 alias, #UD on Intel) - stay
/// unbound and raise #UD.
/// </summary>
public static unsafe class PrivilegedBinder
{
    internal static bool Bind(in Instruction ins, ref Op op, in BindContext ctx)
    {
        switch (ins.Code)
        {
            case Code.Mov_r32_cr:
            case Code.Mov_r64_cr:
            case Code.Mov_cr_r32:
            case Code.Mov_cr_r64:
            {
                bool toCr = ins.Code is Code.Mov_cr_r32 or Code.Mov_cr_r64;
                int cr = (toCr ? ins.Op0Register : ins.Op1Register) - Register.CR0;
                if (ins.HasLockPrefix || cr is not (0 or 2 or 3 or 4 or 8)) return false;
                if (cr == 8 && ctx.Mode != CpuMode.Long64) return false;
                op.Cond = (byte)cr;
                op.Aux = (byte)(ins.Code is Code.Mov_r64_cr or Code.Mov_cr_r64 ? 1 : 0);
                op.Handler = toCr ? &PrivilegedInstructions.MovToCr : &PrivilegedInstructions.MovFromCr;
                return true;
            }
            case Code.Mov_r32_dr:
            case Code.Mov_r64_dr:
            case Code.Mov_dr_r32:
            case Code.Mov_dr_r64:
            {
                bool toDr = ins.Code is Code.Mov_dr_r32 or Code.Mov_dr_r64;
                int dr = (toDr ? ins.Op0Register : ins.Op1Register) - Register.DR0;
                if (ins.HasLockPrefix || dr > 7) return false;
                op.Cond = (byte)dr;
                op.Aux = (byte)(ins.Code is Code.Mov_r64_dr or Code.Mov_dr_r64 ? 1 : 0);
                op.Handler = toDr ? &DebugRegisters.MovToDr : &DebugRegisters.MovFromDr;
                return true;
            }
            case Code.Clts:
                op.Handler = &PrivilegedInstructions.Clts;
                return true;
            case Code.Lmsw_rm16:
                op.Handler = ins.Op0Kind == OpKind.Memory
                    ? &PrivilegedInstructions.Lmsw<LmswFromMem>
                    : &PrivilegedInstructions.Lmsw<LmswFromReg>;
                return true;
            case Code.Smsw_rm16:
            case Code.Smsw_r32m16:
            case Code.Smsw_r64m16:
                if (ins.Op0Kind == OpKind.Memory)
                {
                    op.Handler = &PrivilegedInstructions.SmswMem;
                    return true;
                }
                op.Aux = (byte)ins.Op0Register.GetSize();
                op.Handler = &PrivilegedInstructions.SmswReg;
                return true;
            case Code.Invlpg_m:
                op.Handler = &PrivilegedInstructions.Invlpg;
                return true;
            case Code.Wbinvd:
            case Code.Invd:
                op.Handler = &PrivilegedInstructions.CacheInvalidate;
                return true;
            case Code.Rdpmc:
                op.Handler = &PrivilegedInstructions.Rdpmc;
                return true;
            case Code.Rdmsr:
                op.Handler = &MsrAccess.Rdmsr;
                return true;
            case Code.Wrmsr:
                op.Handler = &MsrAccess.Wrmsr;
                return true;
            case Code.In_AL_imm8: return BindPort(ref op, &PortIo.In, 1, dx: false);
            case Code.In_AX_imm8: return BindPort(ref op, &PortIo.In, 2, dx: false);
            case Code.In_EAX_imm8: return BindPort(ref op, &PortIo.In, 4, dx: false);
            case Code.In_AL_DX: return BindPort(ref op, &PortIo.In, 1, dx: true);
            case Code.In_AX_DX: return BindPort(ref op, &PortIo.In, 2, dx: true);
            case Code.In_EAX_DX: return BindPort(ref op, &PortIo.In, 4, dx: true);
            case Code.Out_imm8_AL: return BindPort(ref op, &PortIo.Out, 1, dx: false);
            case Code.Out_imm8_AX: return BindPort(ref op, &PortIo.Out, 2, dx: false);
            case Code.Out_imm8_EAX: return BindPort(ref op, &PortIo.Out, 4, dx: false);
            case Code.Out_DX_AL: return BindPort(ref op, &PortIo.Out, 1, dx: true);
            case Code.Out_DX_AX: return BindPort(ref op, &PortIo.Out, 2, dx: true);
            case Code.Out_DX_EAX: return BindPort(ref op, &PortIo.Out, 4, dx: true);
        }
        return false;
    }

    private static bool BindPort(ref Op op, delegate*<CpuContext, ref Op, bool> handler, int size, bool dx)
    {
        op.Aux = (byte)size;
        op.Cond = (byte)(dx ? 1 : 0);
        op.Handler = handler;
        return true;
    }
}
