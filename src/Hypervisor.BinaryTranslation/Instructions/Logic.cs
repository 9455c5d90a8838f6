using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>
/// AND/OR/XOR/TEST (Intel SDM Vol. 2): CF = OF = 0, SF/ZF/PF from the result. AF is undefined; this engine
/// clears it, which is what AMD and Intel processors do.
/// </summary>
public struct AndOp : IAluOp
{
    public static bool Writes => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged
    {
        cc = LazyFlags.Make(CcKind.Logic, Sz<T>.Log2);
        return a & b;
    }
}

public struct OrOp : IAluOp
{
    public static bool Writes => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged
    {
        cc = LazyFlags.Make(CcKind.Logic, Sz<T>.Log2);
        return a | b;
    }
}

public struct XorOp : IAluOp
{
    public static bool Writes => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged
    {
        cc = LazyFlags.Make(CcKind.Logic, Sz<T>.Log2);
        return a ^ b;
    }
}

public struct TestOp : IAluOp
{
    public static bool Writes => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Apply<T>(CpuContext c, ulong a, ulong b, out int cc) where T : unmanaged
    {
        cc = LazyFlags.Make(CcKind.Logic, Sz<T>.Log2);
        return a & b;
    }
}

public static unsafe class Logic
{
    internal static bool Bind(in Instruction ins, ref Op op, int size)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.And: op.Handler = Arithmetic.SelectAlu<AndOp>(OperandForms.Of(ins), size); break;
            case Mnemonic.Or: op.Handler = Arithmetic.SelectAlu<OrOp>(OperandForms.Of(ins), size); break;
            case Mnemonic.Xor: op.Handler = Arithmetic.SelectAlu<XorOp>(OperandForms.Of(ins), size); break;
            case Mnemonic.Test: op.Handler = Arithmetic.SelectAlu<TestOp>(OperandForms.Of(ins), size); break;
            default: return false;
        }
        return op.Handler != null;
    }
}
