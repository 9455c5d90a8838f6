using System.Runtime.Intrinsics;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions.Sse;

/// <summary>
/// SSE/SSE2 floating point (arithmetic, MIN/MAX, SQRT, RCP/RSQRT, CMPcc, COMIS/UCOMIS, conversions) through
/// <see cref="HostSse"/> stubs. Op.Imm holds the stub; Aux = memory operand size; Cond bit 0 = the memory
/// operand must be 16-byte aligned. MXCSR semantics (Intel SDM Vol. 1, 11.5): the flags of raised exceptions
/// are set; if any of them is unmasked the destination is left unchanged and #XM (CR4.OSXMMEXCPT = 1) or #UD is
/// raised.
/// </summary>
public static unsafe class SseFloat
{
    private static bool Source(CpuContext c, ref Op op, bool memory, out Vector128<byte> value)
    {
        if (!memory)
        {
            value = c.XmmReg(op.R1);
            return true;
        }
        ulong lin = Addressing.Linear(c, ref op);
        value = default;
        switch (op.Aux)
        {
            case 4:
                if (!c.Read<uint>(lin, out ulong d)) return false;
                value = Vector128.CreateScalar((uint)d).AsByte();
                return true;
            case 8:
                if (!c.Read<ulong>(lin, out ulong q)) return false;
                value = Vector128.CreateScalar(q).AsByte();
                return true;
            default:
                return c.Read128(lin, (op.Cond & 1) != 0, out value);
        }
    }

    /// <summary>Runs the stub; false (with the exception raised) when an unmasked exception occurred.</summary>
    private static bool Run(CpuContext c, ref Op op, ref Vector128<byte> dst, ref Vector128<byte> src, out ulong extra)
    {
        uint mxcsr = (c.Mxcsr & ~0x3Fu) | 0x1F80;
        ulong result = 0;
        var stub = (delegate* unmanaged<void*, void*, uint*, ulong*, void>)op.Imm;
        fixed (Vector128<byte>* d = &dst)
        fixed (Vector128<byte>* s = &src)
            stub(d, s, &mxcsr, &result);
        extra = result;
        uint raised = mxcsr & 0x3F;
        c.Mxcsr |= raised;
        if ((raised & ~(c.Mxcsr >> 7) & 0x3F) == 0) return true;
        return (c.Architectural.Cr4 & 0x400) != 0 ? c.Fault(Vectors.SimdFloatingPoint) : c.Fault(Vectors.InvalidOpcode);
    }

    public static bool XmmXmm(CpuContext c, ref Op op)
    {
        if (!Source(c, ref op, op.Aux != 0, out var src)) return false;
        var dst = c.XmmReg(op.R0);
        if (!Run(c, ref op, ref dst, ref src, out _)) return false;
        c.XmmReg(op.R0) = dst;
        return true;
    }

    /// <summary>COMISS/UCOMISS/COMISD/UCOMISD: ZF, PF, CF from the comparison; OF, SF, AF cleared.</summary>
    public static bool CompareToFlags(CpuContext c, ref Op op)
    {
        if (!Source(c, ref op, op.Aux != 0, out var src)) return false;
        var dst = c.XmmReg(op.R0);
        if (!Run(c, ref op, ref dst, ref src, out ulong rflags)) return false;
        c.SetStatusFlags(rflags & (FlagBits.ZF | FlagBits.PF | FlagBits.CF));
        return true;
    }

    /// <summary>CVT(T)SS2SI/SD2SI r32/r64 (R0 = GPR offset).</summary>
    public static bool ToGpr<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        if (!Source(c, ref op, op.Aux != 0, out var src)) return false;
        var dst = default(Vector128<byte>);
        if (!Run(c, ref op, ref dst, ref src, out ulong value)) return false;
        c.SetReg<T>(op.R0, value);
        return true;
    }

    /// <summary>CVTSI2SS/SD xmm, r/m32/64 (R1 = GPR offset): the upper elements of the destination are kept.</summary>
    public static bool FromGpr<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong v)) return false;
        var src = Vector128.CreateScalar(v).AsByte();
        var dst = c.XmmReg(op.R0);
        if (!Run(c, ref op, ref dst, ref src, out _)) return false;
        c.XmmReg(op.R0) = dst;
        return true;
    }

    private static readonly HashSet<Mnemonic> Arithmetic =
    [
        Mnemonic.Addps, Mnemonic.Addpd, Mnemonic.Addss, Mnemonic.Addsd, Mnemonic.Subps, Mnemonic.Subpd,
        Mnemonic.Subss, Mnemonic.Subsd, Mnemonic.Mulps, Mnemonic.Mulpd, Mnemonic.Mulss, Mnemonic.Mulsd,
        Mnemonic.Divps, Mnemonic.Divpd, Mnemonic.Divss, Mnemonic.Divsd, Mnemonic.Minps, Mnemonic.Minpd,
        Mnemonic.Minss, Mnemonic.Minsd, Mnemonic.Maxps, Mnemonic.Maxpd, Mnemonic.Maxss, Mnemonic.Maxsd,
        Mnemonic.Sqrtps, Mnemonic.Sqrtpd, Mnemonic.Sqrtss, Mnemonic.Sqrtsd, Mnemonic.Rcpps, Mnemonic.Rcpss,
        Mnemonic.Rsqrtps, Mnemonic.Rsqrtss, Mnemonic.Cmpps, Mnemonic.Cmppd, Mnemonic.Cmpss, Mnemonic.Cmpsd,
        Mnemonic.Cvtps2pd, Mnemonic.Cvtpd2ps, Mnemonic.Cvtss2sd, Mnemonic.Cvtsd2ss, Mnemonic.Cvtdq2ps,
        Mnemonic.Cvtps2dq, Mnemonic.Cvttps2dq, Mnemonic.Cvtdq2pd, Mnemonic.Cvtpd2dq, Mnemonic.Cvttpd2dq,
    ];

    internal static bool Bind(in Instruction ins, ref Op op, byte gpr0, byte gpr1)
    {
        var m = ins.Mnemonic;
        bool memory = ins.OpCount > 1 && ins.Op1Kind == OpKind.Memory;
        bool hasImmediate = ins.OpCount > 2;
        byte imm8 = hasImmediate ? (byte)ins.GetImmediate(2) : (byte)0;
        int size = memory ? ins.MemorySize.GetSize() : 0;
        op.Aux = (byte)size;
        op.Cond = size == 16 ? (byte)1 : (byte)0;
        HostSse.Shape shape;
        if (Arithmetic.Contains(m))
        {
            if (m == Mnemonic.Cmpsd && ins.Code != Code.Cmpsd_xmm_xmmm64_imm8) return false;
            shape = HostSse.Shape.XmmXmm;
            op.Handler = &XmmXmm;
        }
        else if (m is Mnemonic.Comiss or Mnemonic.Ucomiss or Mnemonic.Comisd or Mnemonic.Ucomisd)
        {
            shape = HostSse.Shape.Flags;
            op.Handler = &CompareToFlags;
        }
        else if (m is Mnemonic.Cvtss2si or Mnemonic.Cvttss2si or Mnemonic.Cvtsd2si or Mnemonic.Cvttsd2si)
        {
            bool wide = ins.Op0Register.GetSize() == 8;
            shape = wide ? HostSse.Shape.ToGpr64 : HostSse.Shape.ToGpr32;
            op.R0 = gpr0;
            op.Handler = wide ? &ToGpr<ulong> : &ToGpr<uint>;
        }
        else if (m is Mnemonic.Cvtsi2ss or Mnemonic.Cvtsi2sd)
        {
            bool wide = memory ? size == 8 : ins.Op1Register.GetSize() == 8;
            shape = wide ? HostSse.Shape.FromGpr64 : HostSse.Shape.FromGpr32;
            op.R1 = gpr1;
            op.Handler = (wide, memory) switch
            {
                (false, false) => &FromGpr<uint, FromReg>, (false, true) => &FromGpr<uint, FromMem>,
                (true, false) => &FromGpr<ulong, FromReg>, _ => &FromGpr<ulong, FromMem>,
            };
        }
        else return false;
        op.Imm = (ulong)(nint)HostSse.Get(HostSse.For(ins.Code, imm8, shape, hasImmediate));
        return true;
    }
}
