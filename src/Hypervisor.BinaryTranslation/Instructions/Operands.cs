using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>Compile-time facts about an operand type (byte, ushort, uint, ulong); the JIT folds them per instantiation.</summary>
public static class Sz<T> where T : unmanaged
{
    public static int Log2
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => typeof(T) == typeof(byte) ? 0 : typeof(T) == typeof(ushort) ? 1 : typeof(T) == typeof(uint) ? 2 : 3;
    }

    public static int Bits
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => 8 << Log2;
    }

    public static ulong Mask
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ulong.MaxValue >> (64 - Bits);
    }

    public static ulong Sign
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => 1UL << (Bits - 1);
    }

    /// <summary>Sign-extends a T-sized value held in a ulong.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long SignExtend(ulong v) => (long)(v << (64 - Bits)) >> (64 - Bits);
}

/// <summary>Where a source operand comes from; chosen at decode time, specialised by the JIT.</summary>
public interface ISource
{
    static abstract bool Get<T>(CpuContext c, ref Op op, out ulong value) where T : unmanaged;
}

/// <summary>The register in <see cref="Op.R1"/>.</summary>
public struct FromReg : ISource
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Get<T>(CpuContext c, ref Op op, out ulong value) where T : unmanaged
    {
        value = c.GetReg<T>(op.R1);
        return true;
    }
}

/// <summary>The immediate (sign-extended to 64 bits; users truncate to the operand size).</summary>
public struct FromImm : ISource
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Get<T>(CpuContext c, ref Op op, out ulong value) where T : unmanaged
    {
        value = op.Imm & Sz<T>.Mask;
        return true;
    }
}

/// <summary>The memory operand.</summary>
public struct FromMem : ISource
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Get<T>(CpuContext c, ref Op op, out ulong value) where T : unmanaged =>
        c.Read<T>(Addressing.Linear(c, ref op), out value);
}
