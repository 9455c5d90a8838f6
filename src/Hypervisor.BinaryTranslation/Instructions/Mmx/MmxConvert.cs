using System.Runtime.Intrinsics;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Instructions.Sse;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions.Mmx;

/// <summary>
/// The SSE/SSE2 conversions between MM and XMM (Intel SDM Vol. 2): CVTPI2PS, CVTPI2PD, CVT(T)PS2PI and
/// CVT(T)PD2PI. Each runs as the equivalent XMM conversion in a <see cref="HostSse"/> stub (CVTDQ2PS, CVTDQ2PD,
/// CVT(T)PS2DQ, CVT(T)PD2DQ) on a vector whose unused elements are zero - zeros convert exactly and raise
/// nothing - so rounding, MXCSR flags and the integer indefinite are the host's. Op.Imm holds the stub; Aux is
/// the memory operand size (0 for a register source); Cond 1 marks CVTPI2PD, which writes the whole XMM register.
/// CVTPI2PS/PD with a memory source neither check x87 state nor make the MMX transition; every other form does.
/// </summary>
public static unsafe class MmxConvert
{
    /// <summary>Runs the stub under the guest's MXCSR; false (with #XM or #UD raised) on an unmasked exception.</summary>
    private static bool Run(CpuContext c, ref Op op, ref Vector128<byte> dst, ref Vector128<byte> src)
    {
        uint mxcsr = (c.Mxcsr & ~0x3Fu) | 0x1F80;
        ulong unused = 0;
        var stub = (delegate* unmanaged<void*, void*, uint*, ulong*, void>)op.Imm;
        fixed (Vector128<byte>* d = &dst)
        fixed (Vector128<byte>* s = &src)
            stub(d, s, &mxcsr, &unused);
        uint raised = mxcsr & 0x3F;
        c.Mxcsr |= raised;
        if ((raised & ~(c.Mxcsr >> 7) & 0x3F) == 0) return true;
        return (c.Architectural.Cr4 & 0x400) != 0 ? c.Fault(Vectors.SimdFloatingPoint) : c.Fault(Vectors.InvalidOpcode);
    }

    /// <summary>CVTPI2PS/CVTPI2PD xmm, mm/m64 (R1 = MM register when Aux = 0).</summary>
    public static bool IntToFloat(CpuContext c, ref Op op)
    {
        ulong q;
        if (op.Aux == 0)
        {
            if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
            q = c.Mm(op.R1);
        }
        else if (!c.Read<ulong>(Addressing.Linear(c, ref op), out q)) return false;
        var src = Vector128.CreateScalar(q).AsByte();
        var dst = default(Vector128<byte>);
        if (!Run(c, ref op, ref dst, ref src)) return false;
        if (op.Aux == 0) c.EnterMmx();
        ref var x = ref c.XmmReg(op.R0);
        // CVTPI2PS keeps the destination's high quadword; CVTPI2PD writes both doubles.
        x = op.Cond == 1 ? dst : x.AsUInt64().WithElement(0, dst.AsUInt64().ToScalar()).AsByte();
        return true;
    }

    /// <summary>CVT(T)PS2PI mm, xmm/m64 and CVT(T)PD2PI mm, xmm/m128 (16-byte aligned).</summary>
    public static bool FloatToInt(CpuContext c, ref Op op)
    {
        if (MmxPacked.ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        Vector128<byte> src;
        if (op.Aux == 0) src = c.XmmReg(op.R1);
        else
        {
            ulong lin = Addressing.Linear(c, ref op);
            if (op.Aux == 16)
            {
                if (!c.Read128(lin, aligned: true, out src)) return false;
            }
            else
            {
                if (!c.Read<ulong>(lin, out ulong q)) return false;
                src = Vector128.CreateScalar(q).AsByte();
            }
        }
        // Only the low two single-precision elements are CVT(T)PS2PI's source.
        if (op.Cond == 0) src = Vector128.CreateScalar(src.AsUInt64().ToScalar()).AsByte();
        var dst = default(Vector128<byte>);
        if (!Run(c, ref op, ref dst, ref src)) return false;
        c.EnterMmx();
        c.SetMm(op.R0, dst.AsUInt64().ToScalar());
        return true;
    }

    internal static bool Bind(in Instruction ins, ref Op op)
    {
        bool memory = ins.OpCount > 1 && ins.Op1Kind == OpKind.Memory;
        Code stubCode;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Cvtpi2ps: stubCode = Code.Cvtdq2ps_xmm_xmmm128; op.Cond = 0; op.Handler = &IntToFloat; break;
            case Mnemonic.Cvtpi2pd: stubCode = Code.Cvtdq2pd_xmm_xmmm64; op.Cond = 1; op.Handler = &IntToFloat; break;
            case Mnemonic.Cvtps2pi: stubCode = Code.Cvtps2dq_xmm_xmmm128; op.Cond = 0; op.Handler = &FloatToInt; break;
            case Mnemonic.Cvttps2pi: stubCode = Code.Cvttps2dq_xmm_xmmm128; op.Cond = 0; op.Handler = &FloatToInt; break;
            case Mnemonic.Cvtpd2pi: stubCode = Code.Cvtpd2dq_xmm_xmmm128; op.Cond = 1; op.Handler = &FloatToInt; break;
            case Mnemonic.Cvttpd2pi: stubCode = Code.Cvttpd2dq_xmm_xmmm128; op.Cond = 1; op.Handler = &FloatToInt; break;
            default: return false;
        }
        op.Aux = memory ? (byte)ins.MemorySize.GetSize() : (byte)0;
        op.Imm = (ulong)(nint)HostSse.Get(HostSse.For(stubCode, 0, HostSse.Shape.XmmXmm, hasImmediate: false));
        return true;
    }
}
