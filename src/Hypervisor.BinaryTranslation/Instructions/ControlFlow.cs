using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>
/// Near Jcc/JMP/CALL/RET, LOOPcc and JrCXZ (Intel SDM Vol. 2). RIP already points at the next instruction when a
/// handler runs, so relative targets are RIP + Imm, masked to the operand size (16-bit branches wrap IP).
/// A taken branch returns false (end of block); a conditional branch that is not taken continues in the block.
/// </summary>
public static unsafe class ControlFlow
{
    /// <summary>Appended to a block that does not end in a branch: length 0, RIP is already right.</summary>
    public static bool EndBlock(CpuContext c, ref Op op) => false;

    /// <summary>Replaces the ops of an invalidated block: undo the RIP advance and make the loop look up again.</summary>
    public static bool StaleBlock(CpuContext c, ref Op op)
    {
        c.Rip -= op.Length;
        c.Exit = ExitKind.Restart;
        return false;
    }

    /// <summary>
    /// Sets RIP after a near branch; in 64-bit mode a non-canonical target faults at the branch (#GP(0),
    /// Intel SDM Vol. 2A JMP "64-Bit Mode Exceptions").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Branch<T>(CpuContext c, ulong target) where T : unmanaged
    {
        if (typeof(T) == typeof(ulong) && (ulong)((long)(target << 16) >> 16) != target)
            return c.Fault(Vectors.GeneralProtection, 0);
        c.Rip = target & Sz<T>.Mask;
        return false;
    }

    public static bool Jcc<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        if (!Conditions.Evaluate(c, op.Cond)) return true;
        return Branch<T>(c, c.Rip + op.Imm);
    }

    public static bool JmpRel<T>(CpuContext c, ref Op op) where T : unmanaged => Branch<T>(c, c.Rip + op.Imm);

    public static bool JmpIndirect<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong target)) return false;
        return Branch<T>(c, target);
    }

    public static bool CallRel<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        ulong target = (c.Rip + op.Imm) & Sz<T>.Mask;
        if (typeof(T) == typeof(ulong) && (ulong)((long)(target << 16) >> 16) != target)
            return c.Fault(Vectors.GeneralProtection, 0);
        if (!StackOps.Push<T, TStack>(c, c.Rip)) return false;
        c.Rip = target;
        return false;
    }

    public static bool CallIndirect<T, TSrc, TStack>(CpuContext c, ref Op op)
        where T : unmanaged where TSrc : struct, ISource where TStack : struct, IStackWidth
    {
        if (!TSrc.Get<T>(c, ref op, out ulong target)) return false;
        if (typeof(T) == typeof(ulong) && (ulong)((long)(target << 16) >> 16) != target)
            return c.Fault(Vectors.GeneralProtection, 0);
        if (!StackOps.Push<T, TStack>(c, c.Rip)) return false;
        c.Rip = target;
        return false;
    }

    /// <summary>RET and RET imm16: the immediate is released after the return address.</summary>
    public static bool Ret<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        if (!StackOps.Peek<T, TStack>(c, 0, out ulong target)) return false;
        if (typeof(T) == typeof(ulong) && (ulong)((long)(target << 16) >> 16) != target)
            return c.Fault(Vectors.GeneralProtection, 0);
        StackOps.Release<T, TStack>(c, op.Imm & 0xFFFF);
        c.Rip = target;
        return false;
    }

    /// <summary>The count register of LOOP/JrCXZ has the address size (CX, ECX, RCX).</summary>
    public interface ICounter
    {
        static abstract ulong Get(CpuContext c);
        static abstract void Set(CpuContext c, ulong value);
    }

    public struct Cx : ICounter
    {
        public static ulong Get(CpuContext c) => c.GetReg<ushort>(8);
        public static void Set(CpuContext c, ulong value) => c.SetReg<ushort>(8, value);
    }

    public struct Ecx : ICounter
    {
        public static ulong Get(CpuContext c) => c.GetReg<uint>(8);
        public static void Set(CpuContext c, ulong value) => c.SetReg<uint>(8, value);
    }

    public struct Rcx : ICounter
    {
        public static ulong Get(CpuContext c) => c.Gpr(1);
        public static void Set(CpuContext c, ulong value) => c.Gpr(1) = value;
    }

    /// <summary>LOOP (Cond = 0), LOOPE (1), LOOPNE (2): the count is decremented without touching flags.</summary>
    public static bool Loop<T, TCount>(CpuContext c, ref Op op) where T : unmanaged where TCount : struct, ICounter
    {
        ulong count = TCount.Get(c) - 1;
        bool jump = TruncatedNonZero<TCount>(count);
        if (jump && op.Cond != 0)
        {
            bool zf = Conditions.Evaluate(c, 4);
            jump = op.Cond == 1 ? zf : !zf;
        }
        if (jump)
        {
            ulong target = (c.Rip + op.Imm) & Sz<T>.Mask;
            if (typeof(T) == typeof(ulong) && (ulong)((long)(target << 16) >> 16) != target)
                return c.Fault(Vectors.GeneralProtection, 0);
            TCount.Set(c, count);
            c.Rip = target;
            return false;
        }
        TCount.Set(c, count);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TruncatedNonZero<TCount>(ulong count) where TCount : struct, ICounter =>
        typeof(TCount) == typeof(Cx) ? (ushort)count != 0 : typeof(TCount) == typeof(Ecx) ? (uint)count != 0 : count != 0;

    public static bool Jcxz<T, TCount>(CpuContext c, ref Op op) where T : unmanaged where TCount : struct, ICounter
    {
        if (TCount.Get(c) != 0) return true;
        return Branch<T>(c, c.Rip + op.Imm);
    }

    /// <summary>Far JMP/CALL through memory load CS as well; they come with protected-mode transfers (P1.4).</summary>
    private static bool IsFarPointer(MemorySize size) =>
        size is MemorySize.SegPtr16 or MemorySize.SegPtr32 or MemorySize.SegPtr64;

    private static int BranchSize(in Instruction ins) => ins.Op0Kind switch
    {
        OpKind.NearBranch16 => 2,
        OpKind.NearBranch32 => 4,
        _ => 8,
    };

    internal static int CounterBits(in Instruction ins)
    {
        if (ins.Mnemonic == Mnemonic.Jcxz) return 16;
        if (ins.Mnemonic == Mnemonic.Jecxz) return 32;
        if (ins.Mnemonic == Mnemonic.Jrcxz) return 64;
        string name = ins.Code.ToString();
        return name.EndsWith("_CX", StringComparison.Ordinal) ? 16 : name.EndsWith("_ECX", StringComparison.Ordinal) ? 32 : 64;
    }

    private static OpHandler SelectLoop<T>(int counterBits, bool jcxz) where T : unmanaged => (counterBits, jcxz) switch
    {
        (16, false) => &Loop<T, Cx>,
        (32, false) => &Loop<T, Ecx>,
        (_, false) => &Loop<T, Rcx>,
        (16, true) => &Jcxz<T, Cx>,
        (32, true) => &Jcxz<T, Ecx>,
        _ => &Jcxz<T, Rcx>,
    };

    internal static bool Bind(in Instruction ins, ref Op op, int size, in BindContext ctx)
    {
        int stack = ctx.StackBits;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Jo: case Mnemonic.Jno: case Mnemonic.Jb: case Mnemonic.Jae:
            case Mnemonic.Je: case Mnemonic.Jne: case Mnemonic.Jbe: case Mnemonic.Ja:
            case Mnemonic.Js: case Mnemonic.Jns: case Mnemonic.Jp: case Mnemonic.Jnp:
            case Mnemonic.Jl: case Mnemonic.Jge: case Mnemonic.Jle: case Mnemonic.Jg:
                op.Cond = (byte)(ins.ConditionCode - ConditionCode.o);
                op.Handler = BranchSize(ins) switch { 2 => &Jcc<ushort>, 4 => &Jcc<uint>, _ => &Jcc<ulong> };
                return true;
            case Mnemonic.Jmp when ins.Op0Kind is OpKind.NearBranch16 or OpKind.NearBranch32 or OpKind.NearBranch64:
                op.Handler = BranchSize(ins) switch { 2 => &JmpRel<ushort>, 4 => &JmpRel<uint>, _ => &JmpRel<ulong> };
                return true;
            case Mnemonic.Jmp when ins.Op0Kind == OpKind.Register:
                op.R1 = op.R0;
                op.Handler = size switch
                {
                    2 => &JmpIndirect<ushort, FromReg>, 4 => &JmpIndirect<uint, FromReg>, _ => &JmpIndirect<ulong, FromReg>,
                };
                return true;
            case Mnemonic.Jmp when ins.Op0Kind == OpKind.Memory && !IsFarPointer(ins.MemorySize):
                op.Handler = size switch
                {
                    2 => &JmpIndirect<ushort, FromMem>, 4 => &JmpIndirect<uint, FromMem>, _ => &JmpIndirect<ulong, FromMem>,
                };
                return true;
            case Mnemonic.Call when ins.Op0Kind is OpKind.NearBranch16 or OpKind.NearBranch32 or OpKind.NearBranch64:
                op.Handler = (BranchSize(ins), stack) switch
                {
                    (2, 16) => &CallRel<ushort, Stack16>, (2, 32) => &CallRel<ushort, Stack32>, (2, _) => &CallRel<ushort, Stack64>,
                    (4, 16) => &CallRel<uint, Stack16>, (4, 32) => &CallRel<uint, Stack32>, (4, _) => &CallRel<uint, Stack64>,
                    _ => &CallRel<ulong, Stack64>,
                };
                return true;
            case Mnemonic.Call when ins.Op0Kind == OpKind.Register:
                op.R1 = op.R0;
                op.Handler = (size, stack) switch
                {
                    (2, 16) => &CallIndirect<ushort, FromReg, Stack16>, (2, 32) => &CallIndirect<ushort, FromReg, Stack32>,
                    (2, _) => &CallIndirect<ushort, FromReg, Stack64>,
                    (4, 16) => &CallIndirect<uint, FromReg, Stack16>, (4, 32) => &CallIndirect<uint, FromReg, Stack32>,
                    (4, _) => &CallIndirect<uint, FromReg, Stack64>,
                    _ => &CallIndirect<ulong, FromReg, Stack64>,
                };
                return true;
            case Mnemonic.Call when ins.Op0Kind == OpKind.Memory && !IsFarPointer(ins.MemorySize):
                op.Handler = (size, stack) switch
                {
                    (2, 16) => &CallIndirect<ushort, FromMem, Stack16>, (2, 32) => &CallIndirect<ushort, FromMem, Stack32>,
                    (2, _) => &CallIndirect<ushort, FromMem, Stack64>,
                    (4, 16) => &CallIndirect<uint, FromMem, Stack16>, (4, 32) => &CallIndirect<uint, FromMem, Stack32>,
                    (4, _) => &CallIndirect<uint, FromMem, Stack64>,
                    _ => &CallIndirect<ulong, FromMem, Stack64>,
                };
                return true;
            case Mnemonic.Ret:
            {
                int width = ins.Code is Code.Retnw or Code.Retnw_imm16 ? 2
                    : ins.Code is Code.Retnd or Code.Retnd_imm16 ? 4 : 8;
                if (ins.OpCount == 0) op.Imm = 0;
                op.Handler = (width, stack) switch
                {
                    (2, 16) => &Ret<ushort, Stack16>, (2, 32) => &Ret<ushort, Stack32>, (2, _) => &Ret<ushort, Stack64>,
                    (4, 16) => &Ret<uint, Stack16>, (4, 32) => &Ret<uint, Stack32>, (4, _) => &Ret<uint, Stack64>,
                    _ => &Ret<ulong, Stack64>,
                };
                return true;
            }
            case Mnemonic.Loop: case Mnemonic.Loope: case Mnemonic.Loopne:
            case Mnemonic.Jcxz: case Mnemonic.Jecxz: case Mnemonic.Jrcxz:
            {
                bool jcxz = ins.Mnemonic is Mnemonic.Jcxz or Mnemonic.Jecxz or Mnemonic.Jrcxz;
                op.Cond = ins.Mnemonic switch { Mnemonic.Loope => 1, Mnemonic.Loopne => 2, _ => 0 };
                int counter = CounterBits(ins);
                op.Handler = BranchSize(ins) switch
                {
                    2 => SelectLoop<ushort>(counter, jcxz),
                    4 => SelectLoop<uint>(counter, jcxz),
                    _ => SelectLoop<ulong>(counter, jcxz),
                };
                return true;
            }
        }
        return false;
    }
}
