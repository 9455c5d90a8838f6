using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Instructions.Sse;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Instructions.Mmx;

/// <summary>A two-operand MMX operation on 64-bit values: mm = op(mm, mm/m64).</summary>
public interface IMmxOp
{
    static abstract ulong Apply(ulong a, ulong b);
}

/// <summary>
/// An SSE2 lane operation of <see cref="PackedInteger"/> on the low quadword: element-wise arithmetic, compares,
/// logic, shifts (the count is the whole 64-bit source, as for XMM), the low unpacks, PMADDWD, PMULUDQ and
/// PSADBW all give the 64-bit MMX result there, since their low 64 result bits depend only on the low 64 bits
/// of the operands.
/// </summary>
public struct Lane<TOp> : IMmxOp where TOp : struct, IPackedOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply(ulong a, ulong b) =>
        TOp.Apply(Vector128.CreateScalar(a).AsByte(), Vector128.CreateScalar(b).AsByte()).AsUInt64().ToScalar();
}

/// <summary>
/// PUNPCKHBW/WD/DQ on mm: the high halves of both operands interleaved, which is the high quadword of the
/// 128-bit low unpack (<typeparamref name="TLowUnpack"/>) of the two quadwords.
/// </summary>
public struct HighUnpack<TLowUnpack> : IMmxOp where TLowUnpack : struct, IPackedOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply(ulong a, ulong b) =>
        TLowUnpack.Apply(Vector128.CreateScalar(a).AsByte(), Vector128.CreateScalar(b).AsByte()).AsUInt64().GetElement(1);
}

/// <summary>
/// PACKSSWB/PACKSSDW/PACKUSWB on mm: the destination's elements narrowed into the low half, the source's into
/// the high half - the low quadword of the 128-bit pack of the vector (a, b) with itself.
/// </summary>
public struct Pack<TPack> : IMmxOp where TPack : struct, IPackedOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply(ulong a, ulong b)
    {
        var v = Vector128.Create(a, b).AsByte();
        return TPack.Apply(v, v).AsUInt64().ToScalar();
    }
}

/// <summary>
/// Operand forms of the MMX packed operations (Intel SDM Vol. 1, 9.4). R0/R1 hold MM register numbers. Every
/// form first reports a pending unmasked x87 exception (#MF), then makes the x87-to-MMX transition and writes
/// the destination. MMX memory operands have no alignment requirement.
/// </summary>
public static class MmxPacked
{
    /// <summary>FSW.ES: an unmasked x87 exception is pending and is reported before any MMX instruction runs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool ErrorPending(CpuContext c) => (c.Fsw & 0x80) != 0;

    public static bool Register<TOp>(CpuContext c, ref Op op) where TOp : struct, IMmxOp
    {
        if (ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        c.EnterMmx();
        c.SetMm(op.R0, TOp.Apply(c.Mm(op.R0), c.Mm(op.R1)));
        return true;
    }

    public static bool Memory<TOp>(CpuContext c, ref Op op) where TOp : struct, IMmxOp
    {
        if (ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        if (!c.Read<ulong>(Addressing.Linear(c, ref op), out ulong m)) return false;
        c.EnterMmx();
        c.SetMm(op.R0, TOp.Apply(c.Mm(op.R0), m));
        return true;
    }

    /// <summary>PUNPCKLBW/WD/DQ mm, m32: only the low doubleword of the source is read.</summary>
    public static bool Memory32<TOp>(CpuContext c, ref Op op) where TOp : struct, IMmxOp
    {
        if (ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        if (!c.Read<uint>(Addressing.Linear(c, ref op), out ulong m)) return false;
        c.EnterMmx();
        c.SetMm(op.R0, TOp.Apply(c.Mm(op.R0), m));
        return true;
    }

    /// <summary>PSLL/PSRL/PSRA by imm8: the same operation with the count as the source.</summary>
    public static bool Immediate<TOp>(CpuContext c, ref Op op) where TOp : struct, IMmxOp
    {
        if (ErrorPending(c)) return c.Fault(Vectors.FloatingPoint);
        c.EnterMmx();
        c.SetMm(op.R0, TOp.Apply(c.Mm(op.R0), op.Imm & 0xFF));
        return true;
    }
}
