using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Hypervisor.BinaryTranslation.Decoding;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions.Sse;

/// <summary>
/// SSE2 packed-integer and bitwise operations (Intel SDM Vol. 1, 11.4): each is one host SSE2 operation on
/// the 128-bit values, which is exact - no rounding or MXCSR state is involved. The packed logical and unpack
/// operations of SSE/SSE2 on floats are the same bit operations.
/// </summary>
public static unsafe partial class PackedInteger
{
    public struct PaddbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => a + b;
    }

    public struct PaddwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => (a.AsUInt16() + b.AsUInt16()).AsByte();
    }

    public struct PadddOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => (a.AsUInt32() + b.AsUInt32()).AsByte();
    }

    public struct PaddqOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => (a.AsUInt64() + b.AsUInt64()).AsByte();
    }

    public struct PsubbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => a - b;
    }

    public struct PsubwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => (a.AsUInt16() - b.AsUInt16()).AsByte();
    }

    public struct PsubdOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => (a.AsUInt32() - b.AsUInt32()).AsByte();
    }

    public struct PsubqOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => (a.AsUInt64() - b.AsUInt64()).AsByte();
    }

    public struct PaddsbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.AddSaturate(a.AsSByte(), b.AsSByte()).AsByte();
    }

    public struct PaddswOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.AddSaturate(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PaddusbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.AddSaturate(a, b);
    }

    public struct PadduswOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.AddSaturate(a.AsUInt16(), b.AsUInt16()).AsByte();
    }

    public struct PsubsbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.SubtractSaturate(a.AsSByte(), b.AsSByte()).AsByte();
    }

    public struct PsubswOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.SubtractSaturate(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PsubusbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.SubtractSaturate(a, b);
    }

    public struct PsubuswOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.SubtractSaturate(a.AsUInt16(), b.AsUInt16()).AsByte();
    }

    public struct PcmpeqbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.CompareEqual(a, b);
    }

    public struct PcmpeqwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.CompareEqual(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PcmpeqdOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.CompareEqual(a.AsInt32(), b.AsInt32()).AsByte();
    }

    public struct PcmpgtbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.CompareGreaterThan(a.AsSByte(), b.AsSByte()).AsByte();
    }

    public struct PcmpgtwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.CompareGreaterThan(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PcmpgtdOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.CompareGreaterThan(a.AsInt32(), b.AsInt32()).AsByte();
    }

    public struct PmullwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.MultiplyLow(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PmulhwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.MultiplyHigh(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PmulhuwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.MultiplyHigh(a.AsUInt16(), b.AsUInt16()).AsByte();
    }

    public struct PmuludqOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.Multiply(a.AsUInt32(), b.AsUInt32()).AsByte();
    }

    public struct PmaddwdOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.MultiplyAddAdjacent(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PavgbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.Average(a, b);
    }

    public struct PavgwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.Average(a.AsUInt16(), b.AsUInt16()).AsByte();
    }

    public struct PmaxubOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.Max(a, b);
    }

    public struct PminubOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.Min(a, b);
    }

    public struct PmaxswOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.Max(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PminswOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.Min(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PsadbwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.SumAbsoluteDifferences(a, b).AsByte();
    }

    public struct PunpcklbwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackLow(a, b);
    }

    public struct PunpcklwdOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackLow(a.AsUInt16(), b.AsUInt16()).AsByte();
    }

    public struct PunpckldqOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackLow(a.AsUInt32(), b.AsUInt32()).AsByte();
    }

    public struct PunpcklqdqOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackLow(a.AsUInt64(), b.AsUInt64()).AsByte();
    }

    public struct PunpckhbwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackHigh(a, b);
    }

    public struct PunpckhwdOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackHigh(a.AsUInt16(), b.AsUInt16()).AsByte();
    }

    public struct PunpckhdqOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackHigh(a.AsUInt32(), b.AsUInt32()).AsByte();
    }

    public struct PunpckhqdqOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.UnpackHigh(a.AsUInt64(), b.AsUInt64()).AsByte();
    }

    public struct PacksswbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.PackSignedSaturate(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PackssdwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.PackSignedSaturate(a.AsInt32(), b.AsInt32()).AsByte();
    }

    public struct PackuswbOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.PackUnsignedSaturate(a.AsInt16(), b.AsInt16());
    }

    public struct PandOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => a & b;
    }

    public struct PandnOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.AndNot(a, b);
    }

    public struct PorOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => a | b;
    }

    public struct PxorOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => a ^ b;
    }

    public struct PsllwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.ShiftLeftLogical(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PslldOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.ShiftLeftLogical(a.AsInt32(), b.AsInt32()).AsByte();
    }

    public struct PsllqOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.ShiftLeftLogical(a.AsInt64(), b.AsInt64()).AsByte();
    }

    public struct PsrlwOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.ShiftRightLogical(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PsrldOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.ShiftRightLogical(a.AsInt32(), b.AsInt32()).AsByte();
    }

    public struct PsrlqOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.ShiftRightLogical(a.AsInt64(), b.AsInt64()).AsByte();
    }

    public struct PsrawOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.ShiftRightArithmetic(a.AsInt16(), b.AsInt16()).AsByte();
    }

    public struct PsradOp : IPackedOp
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b) => Sse2.ShiftRightArithmetic(a.AsInt32(), b.AsInt32()).AsByte();
    }

    internal static bool Bind(in Instruction ins, ref Op op)
    {
        bool imm = ins.OpCount == 2 && OperandForms.IsImmediate(ins.Op1Kind);
        bool memory = ins.OpCount == 2 && ins.Op1Kind == OpKind.Memory;
        op.Handler = ins.Mnemonic switch
        {
            Mnemonic.Paddb => memory ? &SsePacked.Memory<PaddbOp> : &SsePacked.Register<PaddbOp>,
            Mnemonic.Paddw => memory ? &SsePacked.Memory<PaddwOp> : &SsePacked.Register<PaddwOp>,
            Mnemonic.Paddd => memory ? &SsePacked.Memory<PadddOp> : &SsePacked.Register<PadddOp>,
            Mnemonic.Paddq => memory ? &SsePacked.Memory<PaddqOp> : &SsePacked.Register<PaddqOp>,
            Mnemonic.Psubb => memory ? &SsePacked.Memory<PsubbOp> : &SsePacked.Register<PsubbOp>,
            Mnemonic.Psubw => memory ? &SsePacked.Memory<PsubwOp> : &SsePacked.Register<PsubwOp>,
            Mnemonic.Psubd => memory ? &SsePacked.Memory<PsubdOp> : &SsePacked.Register<PsubdOp>,
            Mnemonic.Psubq => memory ? &SsePacked.Memory<PsubqOp> : &SsePacked.Register<PsubqOp>,
            Mnemonic.Paddsb => memory ? &SsePacked.Memory<PaddsbOp> : &SsePacked.Register<PaddsbOp>,
            Mnemonic.Paddsw => memory ? &SsePacked.Memory<PaddswOp> : &SsePacked.Register<PaddswOp>,
            Mnemonic.Paddusb => memory ? &SsePacked.Memory<PaddusbOp> : &SsePacked.Register<PaddusbOp>,
            Mnemonic.Paddusw => memory ? &SsePacked.Memory<PadduswOp> : &SsePacked.Register<PadduswOp>,
            Mnemonic.Psubsb => memory ? &SsePacked.Memory<PsubsbOp> : &SsePacked.Register<PsubsbOp>,
            Mnemonic.Psubsw => memory ? &SsePacked.Memory<PsubswOp> : &SsePacked.Register<PsubswOp>,
            Mnemonic.Psubusb => memory ? &SsePacked.Memory<PsubusbOp> : &SsePacked.Register<PsubusbOp>,
            Mnemonic.Psubusw => memory ? &SsePacked.Memory<PsubuswOp> : &SsePacked.Register<PsubuswOp>,
            Mnemonic.Pcmpeqb => memory ? &SsePacked.Memory<PcmpeqbOp> : &SsePacked.Register<PcmpeqbOp>,
            Mnemonic.Pcmpeqw => memory ? &SsePacked.Memory<PcmpeqwOp> : &SsePacked.Register<PcmpeqwOp>,
            Mnemonic.Pcmpeqd => memory ? &SsePacked.Memory<PcmpeqdOp> : &SsePacked.Register<PcmpeqdOp>,
            Mnemonic.Pcmpgtb => memory ? &SsePacked.Memory<PcmpgtbOp> : &SsePacked.Register<PcmpgtbOp>,
            Mnemonic.Pcmpgtw => memory ? &SsePacked.Memory<PcmpgtwOp> : &SsePacked.Register<PcmpgtwOp>,
            Mnemonic.Pcmpgtd => memory ? &SsePacked.Memory<PcmpgtdOp> : &SsePacked.Register<PcmpgtdOp>,
            Mnemonic.Pmullw => memory ? &SsePacked.Memory<PmullwOp> : &SsePacked.Register<PmullwOp>,
            Mnemonic.Pmulhw => memory ? &SsePacked.Memory<PmulhwOp> : &SsePacked.Register<PmulhwOp>,
            Mnemonic.Pmulhuw => memory ? &SsePacked.Memory<PmulhuwOp> : &SsePacked.Register<PmulhuwOp>,
            Mnemonic.Pmuludq => memory ? &SsePacked.Memory<PmuludqOp> : &SsePacked.Register<PmuludqOp>,
            Mnemonic.Pmaddwd => memory ? &SsePacked.Memory<PmaddwdOp> : &SsePacked.Register<PmaddwdOp>,
            Mnemonic.Pavgb => memory ? &SsePacked.Memory<PavgbOp> : &SsePacked.Register<PavgbOp>,
            Mnemonic.Pavgw => memory ? &SsePacked.Memory<PavgwOp> : &SsePacked.Register<PavgwOp>,
            Mnemonic.Pmaxub => memory ? &SsePacked.Memory<PmaxubOp> : &SsePacked.Register<PmaxubOp>,
            Mnemonic.Pminub => memory ? &SsePacked.Memory<PminubOp> : &SsePacked.Register<PminubOp>,
            Mnemonic.Pmaxsw => memory ? &SsePacked.Memory<PmaxswOp> : &SsePacked.Register<PmaxswOp>,
            Mnemonic.Pminsw => memory ? &SsePacked.Memory<PminswOp> : &SsePacked.Register<PminswOp>,
            Mnemonic.Psadbw => memory ? &SsePacked.Memory<PsadbwOp> : &SsePacked.Register<PsadbwOp>,
            Mnemonic.Punpcklbw => memory ? &SsePacked.Memory<PunpcklbwOp> : &SsePacked.Register<PunpcklbwOp>,
            Mnemonic.Punpcklwd => memory ? &SsePacked.Memory<PunpcklwdOp> : &SsePacked.Register<PunpcklwdOp>,
            Mnemonic.Punpckldq => memory ? &SsePacked.Memory<PunpckldqOp> : &SsePacked.Register<PunpckldqOp>,
            Mnemonic.Punpcklqdq => memory ? &SsePacked.Memory<PunpcklqdqOp> : &SsePacked.Register<PunpcklqdqOp>,
            Mnemonic.Punpckhbw => memory ? &SsePacked.Memory<PunpckhbwOp> : &SsePacked.Register<PunpckhbwOp>,
            Mnemonic.Punpckhwd => memory ? &SsePacked.Memory<PunpckhwdOp> : &SsePacked.Register<PunpckhwdOp>,
            Mnemonic.Punpckhdq => memory ? &SsePacked.Memory<PunpckhdqOp> : &SsePacked.Register<PunpckhdqOp>,
            Mnemonic.Punpckhqdq => memory ? &SsePacked.Memory<PunpckhqdqOp> : &SsePacked.Register<PunpckhqdqOp>,
            Mnemonic.Packsswb => memory ? &SsePacked.Memory<PacksswbOp> : &SsePacked.Register<PacksswbOp>,
            Mnemonic.Packssdw => memory ? &SsePacked.Memory<PackssdwOp> : &SsePacked.Register<PackssdwOp>,
            Mnemonic.Packuswb => memory ? &SsePacked.Memory<PackuswbOp> : &SsePacked.Register<PackuswbOp>,
            Mnemonic.Pand => memory ? &SsePacked.Memory<PandOp> : &SsePacked.Register<PandOp>,
            Mnemonic.Pandn => memory ? &SsePacked.Memory<PandnOp> : &SsePacked.Register<PandnOp>,
            Mnemonic.Por => memory ? &SsePacked.Memory<PorOp> : &SsePacked.Register<PorOp>,
            Mnemonic.Pxor => memory ? &SsePacked.Memory<PxorOp> : &SsePacked.Register<PxorOp>,
            Mnemonic.Psllw => imm ? &SsePacked.Immediate<PsllwOp> : memory ? &SsePacked.Memory<PsllwOp> : &SsePacked.Register<PsllwOp>,
            Mnemonic.Pslld => imm ? &SsePacked.Immediate<PslldOp> : memory ? &SsePacked.Memory<PslldOp> : &SsePacked.Register<PslldOp>,
            Mnemonic.Psllq => imm ? &SsePacked.Immediate<PsllqOp> : memory ? &SsePacked.Memory<PsllqOp> : &SsePacked.Register<PsllqOp>,
            Mnemonic.Psrlw => imm ? &SsePacked.Immediate<PsrlwOp> : memory ? &SsePacked.Memory<PsrlwOp> : &SsePacked.Register<PsrlwOp>,
            Mnemonic.Psrld => imm ? &SsePacked.Immediate<PsrldOp> : memory ? &SsePacked.Memory<PsrldOp> : &SsePacked.Register<PsrldOp>,
            Mnemonic.Psrlq => imm ? &SsePacked.Immediate<PsrlqOp> : memory ? &SsePacked.Memory<PsrlqOp> : &SsePacked.Register<PsrlqOp>,
            Mnemonic.Psraw => imm ? &SsePacked.Immediate<PsrawOp> : memory ? &SsePacked.Memory<PsrawOp> : &SsePacked.Register<PsrawOp>,
            Mnemonic.Psrad => imm ? &SsePacked.Immediate<PsradOp> : memory ? &SsePacked.Memory<PsradOp> : &SsePacked.Register<PsradOp>,
            Mnemonic.Andps => memory ? &SsePacked.Memory<PandOp> : &SsePacked.Register<PandOp>,
            Mnemonic.Andpd => memory ? &SsePacked.Memory<PandOp> : &SsePacked.Register<PandOp>,
            Mnemonic.Andnps => memory ? &SsePacked.Memory<PandnOp> : &SsePacked.Register<PandnOp>,
            Mnemonic.Andnpd => memory ? &SsePacked.Memory<PandnOp> : &SsePacked.Register<PandnOp>,
            Mnemonic.Orps => memory ? &SsePacked.Memory<PorOp> : &SsePacked.Register<PorOp>,
            Mnemonic.Orpd => memory ? &SsePacked.Memory<PorOp> : &SsePacked.Register<PorOp>,
            Mnemonic.Xorps => memory ? &SsePacked.Memory<PxorOp> : &SsePacked.Register<PxorOp>,
            Mnemonic.Xorpd => memory ? &SsePacked.Memory<PxorOp> : &SsePacked.Register<PxorOp>,
            Mnemonic.Unpcklps => memory ? &SsePacked.Memory<PunpckldqOp> : &SsePacked.Register<PunpckldqOp>,
            Mnemonic.Unpckhps => memory ? &SsePacked.Memory<PunpckhdqOp> : &SsePacked.Register<PunpckhdqOp>,
            Mnemonic.Unpcklpd => memory ? &SsePacked.Memory<PunpcklqdqOp> : &SsePacked.Register<PunpcklqdqOp>,
            Mnemonic.Unpckhpd => memory ? &SsePacked.Memory<PunpckhqdqOp> : &SsePacked.Register<PunpckhqdqOp>,
            _ => null,
        };
        return op.Handler != null;
    }
}
