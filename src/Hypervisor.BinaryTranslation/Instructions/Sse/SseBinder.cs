using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions.Sse;

/// <summary>
/// Binds the SSE/SSE2 instructions this engine implements: XMM operands go into R0/R1 as register numbers.
/// Whether SSE may run is part of the mode key: with CR0.EM set or CR4.OSFXSR clear they raise #UD, with
/// CR0.TS set #NM (Intel SDM Vol. 3, 13.1 and 13.2), decided at decode time. FXSAVE/FXRSTOR only look at EM and TS.
/// </summary>
public static unsafe class SseBinder
{
    public static bool DeviceNotAvailable(CpuContext c, ref Op op) => c.Fault(Vectors.DeviceNotAvailable);

    internal static bool Bind(in Instruction ins, ref Op op, in BindContext ctx)
    {
        bool anyXmm = false;
        for (int i = 0; i < ins.OpCount; i++)
        {
            if (ins.GetOpKind(i) != OpKind.Register) continue;
            var r = ins.GetOpRegister(i);
            if (r.IsMM()) return false;
            anyXmm |= r.IsXMM();
        }
        bool control = ins.Mnemonic is Mnemonic.Ldmxcsr or Mnemonic.Stmxcsr or Mnemonic.Fxsave or Mnemonic.Fxsave64
            or Mnemonic.Fxrstor or Mnemonic.Fxrstor64;
        // CVT(T)SS2SI/SD2SI with a memory source name no XMM register but are SSE instructions all the same.
        anyXmm |= ins.Mnemonic is Mnemonic.Cvtss2si or Mnemonic.Cvttss2si or Mnemonic.Cvtsd2si or Mnemonic.Cvttsd2si;
        if (!anyXmm && !control) return false;

        byte gpr0 = op.R0, gpr1 = op.R1;
        if (ins.Op0Kind == OpKind.Register && ins.Op0Register.IsXMM()) op.R0 = (byte)(ins.Op0Register - Register.XMM0);
        if (ins.OpCount > 1 && ins.Op1Kind == OpKind.Register && ins.Op1Register.IsXMM())
            op.R1 = (byte)(ins.Op1Register - Register.XMM0);

        bool bound = control ? SseControl.Bind(ins, ref op)
            : PackedInteger.Bind(ins, ref op) || SseMove.Bind(ins, ref op, gpr0, gpr1) || SseFloat.Bind(ins, ref op, gpr0, gpr1);
        if (!bound) return false;
        bool fxsr = ins.Mnemonic is Mnemonic.Fxsave or Mnemonic.Fxsave64 or Mnemonic.Fxrstor or Mnemonic.Fxrstor64;
        if (fxsr ? ctx.FpuEmulated : !ctx.SseEnabled) op.Handler = &Misc.InvalidOpcode;
        else if (ctx.TaskSwitched) op.Handler = &DeviceNotAvailable;
        return true;
    }
}
