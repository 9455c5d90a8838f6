using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>The stack address size: SP, ESP or RSP (SS.B, or 64 in 64-bit mode; Intel SDM Vol. 1, 6.2.3).</summary>
public interface IStackWidth
{
    static abstract ulong Mask { get; }
    static abstract void SetSp(CpuContext c, ulong sp);
}

public struct Stack16 : IStackWidth
{
    public static ulong Mask => 0xFFFF;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetSp(CpuContext c, ulong sp) => c.SetReg<ushort>(4 * 8, sp);
}

public struct Stack32 : IStackWidth
{
    public static ulong Mask => 0xFFFF_FFFF;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetSp(CpuContext c, ulong sp) => c.SetReg<uint>(4 * 8, sp);
}

public struct Stack64 : IStackWidth
{
    public static ulong Mask => ulong.MaxValue;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetSp(CpuContext c, ulong sp) => c.Gpr(4) = sp;
}

/// <summary>PUSH and POP primitives: memory first, RSP after, so a faulting access leaves RSP unchanged.</summary>
public static class StackOps
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Push<T, TStack>(CpuContext c, ulong value) where T : unmanaged where TStack : struct, IStackWidth
    {
        ulong sp = (c.Gpr(4) - (ulong)Unsafe.SizeOf<T>()) & TStack.Mask;
        if (!c.Write<T>(Addressing.Linear(c, (int)SegmentIndex.Ss, sp), value)) return false;
        TStack.SetSp(c, sp);
        return true;
    }

    /// <summary>Reads the top of the stack without moving RSP.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Peek<T, TStack>(CpuContext c, ulong offset, out ulong value)
        where T : unmanaged where TStack : struct, IStackWidth =>
        c.Read<T>(Addressing.Linear(c, (int)SegmentIndex.Ss, (c.Gpr(4) + offset) & TStack.Mask), out value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Release<T, TStack>(CpuContext c, ulong extra = 0) where T : unmanaged where TStack : struct, IStackWidth =>
        TStack.SetSp(c, (c.Gpr(4) + (ulong)Unsafe.SizeOf<T>() + extra) & TStack.Mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Pop<T, TStack>(CpuContext c, out ulong value) where T : unmanaged where TStack : struct, IStackWidth
    {
        if (!Peek<T, TStack>(c, 0, out value)) return false;
        Release<T, TStack>(c);
        return true;
    }
}
