using global::System.Runtime.Intrinsics;
using global::System.Runtime.Intrinsics.X86;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions.Sse;

/// <summary>
/// SSE/SSE2 data movement and shuffles (Intel SDM Vol. 2): MOVAPS/MOVUPS/MOVAPD/MOVUPD/MOVDQA/MOVDQU, MOVD/MOVQ,
/// MOVSS/MOVSD (a load zeroes the rest, a register move merges), MOVLPS/MOVHPS/MOVLPD/MOVHPD, MOVHLPS/MOVLHPS,
/// PSHUFD/PSHUFLW/PSHUFHW, SHUFPS/SHUFPD, PSLLDQ/PSRLDQ, PMOVMSKB/MOVMSKPS/MOVMSKPD, PEXTRW/PINSRW.
/// Aux = 1 marks the forms whose memory operand must be 16-byte aligned.
/// </summary>
public static unsafe class SseMove
{
    public static bool MovRegReg(CpuContext c, ref Op op)
    {
        c.XmmReg(op.R0) = c.XmmReg(op.R1);
        return true;
    }

    public static bool Load128(CpuContext c, ref Op op)
    {
        if (!c.Read128(Addressing.Linear(c, ref op), op.Aux == 1, out var v)) return false;
        c.XmmReg(op.R0) = v;
        return true;
    }

    public static bool Store128(CpuContext c, ref Op op) =>
        c.Write128(Addressing.Linear(c, ref op), op.Aux == 1, c.XmmReg(op.R1));

    /// <summary>MOVD/MOVQ xmm, r/m: zero-extended into the whole register.</summary>
    public static bool ToXmm<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong v)) return false;
        c.XmmReg(op.R0) = Vector128.CreateScalar(v).AsByte();
        return true;
    }

    /// <summary>MOVD/MOVQ r, xmm (R0 is the GPR offset, R1 the XMM register).</summary>
    public static bool FromXmmToReg<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        c.SetReg<T>(op.R0, c.XmmReg(op.R1).AsUInt64().ToScalar());
        return true;
    }

    public static bool FromXmmToMem<T>(CpuContext c, ref Op op) where T : unmanaged =>
        c.Write<T>(Addressing.Linear(c, ref op), c.XmmReg(op.R1).AsUInt64().ToScalar());

    /// <summary>MOVQ xmm, xmm (F3 0F 7E / 66 0F D6 register forms): the low quadword, upper zeroed.</summary>
    public static bool MovqRegReg(CpuContext c, ref Op op)
    {
        c.XmmReg(op.R0) = Vector128.CreateScalar(c.XmmReg(op.R1).AsUInt64().ToScalar()).AsByte();
        return true;
    }

    public static bool MovssRegReg(CpuContext c, ref Op op)
    {
        ref var d = ref c.XmmReg(op.R0);
        d = d.AsUInt32().WithElement(0, c.XmmReg(op.R1).AsUInt32().ToScalar()).AsByte();
        return true;
    }

    public static bool MovsdRegReg(CpuContext c, ref Op op)
    {
        ref var d = ref c.XmmReg(op.R0);
        d = d.AsUInt64().WithElement(0, c.XmmReg(op.R1).AsUInt64().ToScalar()).AsByte();
        return true;
    }

    /// <summary>MOVLPS/MOVLPD (Cond 0) and MOVHPS/MOVHPD (Cond 1) loads: one quadword, the other kept.</summary>
    public static bool LoadHalf(CpuContext c, ref Op op)
    {
        if (!c.Read<ulong>(Addressing.Linear(c, ref op), out ulong v)) return false;
        ref var d = ref c.XmmReg(op.R0);
        d = d.AsUInt64().WithElement(op.Cond, v).AsByte();
        return true;
    }

    public static bool StoreHalf(CpuContext c, ref Op op) =>
        c.Write<ulong>(Addressing.Linear(c, ref op), c.XmmReg(op.R1).AsUInt64().GetElement(op.Cond));

    /// <summary>MOVHLPS (Cond 0): low = source high; MOVLHPS (Cond 1): high = source low.</summary>
    public static bool MoveHalves(CpuContext c, ref Op op)
    {
        ref var d = ref c.XmmReg(op.R0);
        var s = c.XmmReg(op.R1).AsUInt64();
        d = op.Cond == 0 ? d.AsUInt64().WithElement(0, s.GetElement(1)).AsByte()
            : d.AsUInt64().WithElement(1, s.GetElement(0)).AsByte();
        return true;
    }

    private static bool Source(CpuContext c, ref Op op, bool memory, bool aligned, out Vector128<byte> v)
    {
        if (!memory)
        {
            v = c.XmmReg(op.R1);
            return true;
        }
        return c.Read128(Addressing.Linear(c, ref op), aligned, out v);
    }

    /// <summary>PSHUFD (Cond 0), PSHUFLW (1), PSHUFHW (2); Aux2 = 1 for a memory source.</summary>
    public static bool ShuffleWords(CpuContext c, ref Op op)
    {
        if (!Source(c, ref op, op.Aux2 == 1, true, out var s)) return false;
        int imm = (int)(op.Imm & 0xFF);
        Vector128<byte> r;
        if (op.Cond == 0)
        {
            var d = s.AsUInt32();
            r = Vector128.Create(d.GetElement(imm & 3), d.GetElement(imm >> 2 & 3), d.GetElement(imm >> 4 & 3),
                d.GetElement(imm >> 6 & 3)).AsByte();
        }
        else
        {
            var w = s.AsUInt16();
            int half = op.Cond == 1 ? 0 : 4;
            var res = w;
            for (int i = 0; i < 4; i++) res = res.WithElement(half + i, w.GetElement(half + (imm >> (2 * i) & 3)));
            r = res.AsByte();
        }
        c.XmmReg(op.R0) = r;
        return true;
    }

    /// <summary>SHUFPS (Cond 0) / SHUFPD (Cond 1): low half from the destination, high half from the source.</summary>
    public static bool ShuffleFloats(CpuContext c, ref Op op)
    {
        if (!Source(c, ref op, op.Aux2 == 1, true, out var s)) return false;
        int imm = (int)(op.Imm & 0xFF);
        ref var dst = ref c.XmmReg(op.R0);
        if (op.Cond == 0)
        {
            var a = dst.AsUInt32();
            var b = s.AsUInt32();
            dst = Vector128.Create(a.GetElement(imm & 3), a.GetElement(imm >> 2 & 3), b.GetElement(imm >> 4 & 3),
                b.GetElement(imm >> 6 & 3)).AsByte();
        }
        else
        {
            var a = dst.AsUInt64();
            var b = s.AsUInt64();
            dst = Vector128.Create(a.GetElement(imm & 1), b.GetElement(imm >> 1 & 1)).AsByte();
        }
        return true;
    }

    /// <summary>PSLLDQ (Cond 0) / PSRLDQ (Cond 1): whole-register byte shift; counts above 15 clear it.</summary>
    public static bool ByteShift(CpuContext c, ref Op op)
    {
        int n = (int)(op.Imm & 0xFF);
        ref var d = ref c.XmmReg(op.R0);
        Span<byte> src = stackalloc byte[16];
        Span<byte> res = stackalloc byte[16];
        d.CopyTo(src);
        for (int i = 0; i < 16; i++)
        {
            int from = op.Cond == 0 ? i - n : i + n;
            res[i] = from is >= 0 and < 16 ? src[from] : (byte)0;
        }
        d = Vector128.Create((ReadOnlySpan<byte>)res);
        return true;
    }

    /// <summary>PMOVMSKB (Cond 0), MOVMSKPS (1), MOVMSKPD (2): sign bits into a zero-extended GPR.</summary>
    public static bool MoveMask(CpuContext c, ref Op op)
    {
        var s = c.XmmReg(op.R1);
        uint mask = op.Cond switch
        {
            0 => (uint)Sse2.MoveMask(s),
            1 => (uint)global::System.Runtime.Intrinsics.X86.Sse.MoveMask(s.AsSingle()),
            _ => (uint)Sse2.MoveMask(s.AsDouble()),
        };
        c.SetReg<uint>(op.R0, mask);
        return true;
    }

    public static bool Pextrw(CpuContext c, ref Op op)
    {
        c.SetReg<uint>(op.R0, c.XmmReg(op.R1).AsUInt16().GetElement((int)(op.Imm & 7)));
        return true;
    }

    public static bool Pinsrw<TSrc>(CpuContext c, ref Op op) where TSrc : struct, ISource
    {
        if (!TSrc.Get<ushort>(c, ref op, out ulong v)) return false;
        ref var d = ref c.XmmReg(op.R0);
        d = d.AsUInt16().WithElement((int)(op.Imm & 7), (ushort)v).AsByte();
        return true;
    }

    internal static bool Bind(in Instruction ins, ref Op op, byte gpr0, byte gpr1)
    {
        var k0 = ins.Op0Kind;
        var k1 = ins.OpCount > 1 ? ins.Op1Kind : OpKind.Register;
        bool load = k1 == OpKind.Memory, store = k0 == OpKind.Memory;
        bool xmm0 = k0 == OpKind.Register && ins.Op0Register.IsXMM();
        bool xmm1 = k1 == OpKind.Register && ins.OpCount > 1 && ins.Op1Register.IsXMM();
        switch (ins.Mnemonic)
        {
            case Mnemonic.Movaps: case Mnemonic.Movapd: case Mnemonic.Movdqa:
            case Mnemonic.Movups: case Mnemonic.Movupd: case Mnemonic.Movdqu:
                op.Aux = ins.Mnemonic is Mnemonic.Movaps or Mnemonic.Movapd or Mnemonic.Movdqa ? (byte)1 : (byte)0;
                op.Handler = load ? &Load128 : store ? &Store128 : &MovRegReg;
                return true;
            case Mnemonic.Movd: case Mnemonic.Movq:
                if (xmm0 && xmm1)
                {
                    op.Handler = &MovqRegReg;
                    return true;
                }
                if (xmm0)
                {
                    // MOVD/MOVQ xmm, r/m32/64 or MOVQ xmm, m64.
                    op.R1 = gpr1;
                    bool wide = ins.Mnemonic == Mnemonic.Movq;
                    op.Handler = (wide, load) switch
                    {
                        (false, false) => &ToXmm<uint, FromReg>, (false, true) => &ToXmm<uint, FromMem>,
                        (true, false) => &ToXmm<ulong, FromReg>, _ => &ToXmm<ulong, FromMem>,
                    };
                    return true;
                }
                op.R0 = gpr0;
                op.Handler = (ins.Mnemonic == Mnemonic.Movq, store) switch
                {
                    (false, false) => &FromXmmToReg<uint>, (false, true) => &FromXmmToMem<uint>,
                    (true, false) => &FromXmmToReg<ulong>, _ => &FromXmmToMem<ulong>,
                };
                return true;
            case Mnemonic.Movss when ins.Code is Code.Movss_xmm_xmmm32 or Code.Movss_xmmm32_xmm:
                op.Handler = load ? &ToXmm<uint, FromMem> : store ? &FromXmmToMem<uint> : &MovssRegReg;
                return true;
            case Mnemonic.Movsd when ins.Code is Code.Movsd_xmm_xmmm64 or Code.Movsd_xmmm64_xmm:
                op.Handler = load ? &ToXmm<ulong, FromMem> : store ? &FromXmmToMem<ulong> : &MovsdRegReg;
                return true;
            case Mnemonic.Movlps: case Mnemonic.Movlpd: case Mnemonic.Movhps: case Mnemonic.Movhpd:
                op.Cond = ins.Mnemonic is Mnemonic.Movhps or Mnemonic.Movhpd ? (byte)1 : (byte)0;
                op.Handler = load ? &LoadHalf : &StoreHalf;
                return true;
            case Mnemonic.Movhlps: op.Cond = 0; op.Handler = &MoveHalves; return true;
            case Mnemonic.Movlhps: op.Cond = 1; op.Handler = &MoveHalves; return true;
            case Mnemonic.Pshufd: case Mnemonic.Pshuflw: case Mnemonic.Pshufhw:
                op.Cond = ins.Mnemonic switch { Mnemonic.Pshufd => 0, Mnemonic.Pshuflw => 1, _ => 2 };
                op.Aux2 = load ? (ushort)1 : (ushort)0;
                op.Handler = &ShuffleWords;
                return true;
            case Mnemonic.Shufps: case Mnemonic.Shufpd:
                op.Cond = ins.Mnemonic == Mnemonic.Shufps ? (byte)0 : (byte)1;
                op.Aux2 = load ? (ushort)1 : (ushort)0;
                op.Handler = &ShuffleFloats;
                return true;
            case Mnemonic.Pslldq: op.Cond = 0; op.Handler = &ByteShift; return true;
            case Mnemonic.Psrldq: op.Cond = 1; op.Handler = &ByteShift; return true;
            case Mnemonic.Pmovmskb: case Mnemonic.Movmskps: case Mnemonic.Movmskpd:
                if (!xmm1) return false;
                op.R0 = gpr0;
                op.Cond = ins.Mnemonic switch { Mnemonic.Pmovmskb => 0, Mnemonic.Movmskps => 1, _ => 2 };
                op.Handler = &MoveMask;
                return true;
            case Mnemonic.Pextrw when xmm1 && ins.Op0Kind == OpKind.Register && ins.Op0Register.IsGPR():
                op.R0 = gpr0;
                op.Handler = &Pextrw;
                return true;
            case Mnemonic.Pinsrw when xmm0:
                op.R1 = gpr1;
                op.Handler = load ? &Pinsrw<FromMem> : &Pinsrw<FromReg>;
                return true;
        }
        return false;
    }
}
