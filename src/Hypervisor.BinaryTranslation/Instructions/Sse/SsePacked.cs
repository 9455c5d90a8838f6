using System.Runtime.Intrinsics;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Instructions.Sse;

/// <summary>A two-operand packed operation: xmm = op(xmm, xmm/m128).</summary>
public interface IPackedOp
{
    static abstract Vector128<byte> Apply(Vector128<byte> a, Vector128<byte> b);
}

/// <summary>
/// Operand forms of packed operations. R0/R1 hold XMM register numbers. Legacy-encoded SSE memory operands must
/// be 16-byte aligned (#GP(0) otherwise, Intel SDM Vol. 1, 11.6.8) unless the instruction says otherwise.
/// </summary>
public static class SsePacked
{
    public static bool Register<TOp>(CpuContext c, ref Op op) where TOp : struct, IPackedOp
    {
        ref var d = ref c.XmmReg(op.R0);
        d = TOp.Apply(d, c.XmmReg(op.R1));
        return true;
    }

    public static bool Memory<TOp>(CpuContext c, ref Op op) where TOp : struct, IPackedOp
    {
        if (!c.Read128(Addressing.Linear(c, ref op), aligned: true, out var m)) return false;
        ref var d = ref c.XmmReg(op.R0);
        d = TOp.Apply(d, m);
        return true;
    }

    /// <summary>Shift by an 8-bit immediate: the same operation with the count in a vector's low quadword.</summary>
    public static bool Immediate<TOp>(CpuContext c, ref Op op) where TOp : struct, IPackedOp
    {
        ref var d = ref c.XmmReg(op.R0);
        d = TOp.Apply(d, Vector128.CreateScalar(op.Imm & 0xFF).AsByte());
        return true;
    }
}
