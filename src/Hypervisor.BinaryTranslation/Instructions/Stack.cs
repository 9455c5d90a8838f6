using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>PUSH/POP (registers, memory, immediates, segment registers), PUSHF/POPF, PUSHA/POPA, ENTER/LEAVE.</summary>
public static unsafe class Stack
{
    public static bool Push<T, TStack, TSrc>(CpuContext c, ref Op op)
        where T : unmanaged where TStack : struct, IStackWidth where TSrc : struct, ISource
    {
        // PUSH rSP pushes the value before the decrement: the source is read first.
        if (!TSrc.Get<T>(c, ref op, out ulong v)) return false;
        return StackOps.Push<T, TStack>(c, v);
    }

    public static bool PopReg<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        if (!StackOps.Pop<T, TStack>(c, out ulong v)) return false;
        c.SetReg<T>(op.R0, v);
        return true;
    }

    /// <summary>POP m: an rSP-based address is computed after the increment (Intel SDM Vol. 2B POP).</summary>
    public static bool PopMem<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        if (!StackOps.Peek<T, TStack>(c, 0, out ulong v)) return false;
        ulong oldSp = c.Gpr(4);
        StackOps.Release<T, TStack>(c);
        if (c.Write<T>(Addressing.Linear(c, ref op), v)) return true;
        c.Gpr(4) = oldSp;
        return false;
    }

    /// <summary>PUSH Sreg: a 32/64-bit push writes the zero-extended selector.</summary>
    public static bool PushSeg<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth =>
        StackOps.Push<T, TStack>(c, c.Segments[op.Cond].Selector);

    /// <summary>PUSHF: the image has VM and RF cleared (Intel SDM Vol. 2B PUSHF).</summary>
    public static bool Pushf<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth =>
        StackOps.Push<T, TStack>(c, c.GetRflags() & ~(FlagBits.VM | FlagBits.RF));

    /// <summary>
    /// POPF (Intel SDM Vol. 2B POPF): IOPL changes only at CPL 0, IF only when CPL &lt;= IOPL; VM, VIP, VIF are
    /// kept; RF is cleared; a 16-bit POPF keeps the upper half.
    /// </summary>
    public static bool Popf<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        ulong old = c.GetRflags();
        int iopl = (int)((old & FlagBits.IOPL) >> FlagBits.IoplShift);
        if (c.Mode == CpuMode.Virtual8086 && iopl < 3) return c.Fault(Vectors.GeneralProtection, 0);
        if (!StackOps.Pop<T, TStack>(c, out ulong v)) return false;
        ulong writable = FlagBits.Status | FlagBits.TF | FlagBits.DF | FlagBits.NT | FlagBits.AC | FlagBits.ID;
        if (c.Cpl == 0 && c.Mode != CpuMode.Virtual8086) writable |= FlagBits.IOPL;
        if (c.Cpl <= iopl) writable |= FlagBits.IF;
        writable &= Sz<T>.Mask;
        ulong flags = (old & ~writable) | (v & writable);
        flags = (flags & ~FlagBits.RF) | FlagBits.Reserved1;
        c.Rflags = flags & ~(0x8UL | 0x20 | 0x8000);
        c.CcOp = 0;
        return false;
    }

    /// <summary>PUSHA/PUSHAD: the stored SP is its value before the first push.</summary>
    public static bool Pusha<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        int size = sizeof(T);
        ulong sp = c.Gpr(4);
        ulong top = (sp - (ulong)(8 * size)) & TStack.Mask;
        for (int i = 0; i < 8; i++)
        {
            ulong value = i == 4 ? sp : c.Gpr(i);
            ulong at = (sp - (ulong)((i + 1) * size)) & TStack.Mask;
            if (!c.Write<T>(Addressing.Linear(c, (int)SegmentIndex.Ss, at), value)) return false;
        }
        TStack.SetSp(c, top);
        return true;
    }

    /// <summary>POPA/POPAD: the stored SP is skipped.</summary>
    public static bool Popa<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        int size = sizeof(T);
        Span<ulong> values = stackalloc ulong[8];
        for (int i = 0; i < 8; i++)
            if (!StackOps.Peek<T, TStack>(c, (ulong)((7 - i) * size), out values[i])) return false;
        for (int i = 0; i < 8; i++)
            if (i != 4) c.SetReg<T>(i * 8, values[i]);
        TStack.SetSp(c, (c.Gpr(4) + (ulong)(8 * size)) & TStack.Mask);
        return true;
    }

    /// <summary>ENTER imm16, imm8 (Intel SDM Vol. 2A ENTER): nesting level mod 32, frame pointers copied.</summary>
    public static bool Enter<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        ulong size = (ulong)sizeof(T);
        ulong allocation = op.Imm & 0xFFFF;
        int level = op.Aux2 & 31;
        ulong sp = c.Gpr(4);
        ulong bp = c.Gpr(5);
        // Do every store on a scratch pointer first; registers change only when all of them succeeded.
        ulong p = (sp - size) & TStack.Mask;
        if (!c.Write<T>(Addressing.Linear(c, (int)SegmentIndex.Ss, p), bp)) return false;
        ulong frame = p;
        if (level > 0)
        {
            ulong fromBp = bp;
            for (int i = 1; i < level; i++)
            {
                fromBp = (fromBp - size) & TStack.Mask;
                if (!c.Read<T>(Addressing.Linear(c, (int)SegmentIndex.Ss, fromBp), out ulong v)) return false;
                p = (p - size) & TStack.Mask;
                if (!c.Write<T>(Addressing.Linear(c, (int)SegmentIndex.Ss, p), v)) return false;
            }
            p = (p - size) & TStack.Mask;
            if (!c.Write<T>(Addressing.Linear(c, (int)SegmentIndex.Ss, p), frame)) return false;
        }
        p = (p - allocation) & TStack.Mask;
        c.SetReg<T>(5 * 8, frame);
        TStack.SetSp(c, p);
        return true;
    }

    /// <summary>LEAVE: rSP = rBP (stack width), then POP rBP (operand size).</summary>
    public static bool Leave<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        ulong bp = c.Gpr(5) & TStack.Mask;
        if (!c.Read<T>(Addressing.Linear(c, (int)SegmentIndex.Ss, bp), out ulong v)) return false;
        TStack.SetSp(c, bp + (ulong)sizeof(T));
        c.SetReg<T>(5 * 8, v);
        return true;
    }

    private static OpHandler ByWidth(int size, int stackBits,
        OpHandler s16w16, OpHandler s16w32, OpHandler s16w64,
        OpHandler s32w16, OpHandler s32w32, OpHandler s32w64,
        OpHandler s64w16, OpHandler s64w32, OpHandler s64w64) => (size, stackBits) switch
    {
        (2, 16) => s16w16, (2, 32) => s16w32, (2, _) => s16w64,
        (4, 16) => s32w16, (4, 32) => s32w32, (4, _) => s32w64,
        (_, 16) => s64w16, (_, 32) => s64w32, _ => s64w64,
    };

    private static OpHandler PushOf<TSrc>(int size, int stack) where TSrc : struct, ISource => ByWidth(size, stack,
        &Push<ushort, Stack16, TSrc>, &Push<ushort, Stack32, TSrc>, &Push<ushort, Stack64, TSrc>,
        &Push<uint, Stack16, TSrc>, &Push<uint, Stack32, TSrc>, &Push<uint, Stack64, TSrc>,
        &Push<ulong, Stack16, TSrc>, &Push<ulong, Stack32, TSrc>, &Push<ulong, Stack64, TSrc>);

    internal static bool Bind(in Instruction ins, ref Op op, int size, in BindContext ctx)
    {
        int stack = ctx.StackBits;
        int width = Math.Abs(ins.StackPointerIncrement);
        switch (ins.Mnemonic)
        {
            case Mnemonic.Push when ins.Op0Kind == OpKind.Register && ins.Op0Register.IsSegmentRegister():
                op.Cond = (byte)(ins.Op0Register - Register.ES);
                op.Handler = ByWidth(width, stack,
                    &PushSeg<ushort, Stack16>, &PushSeg<ushort, Stack32>, &PushSeg<ushort, Stack64>,
                    &PushSeg<uint, Stack16>, &PushSeg<uint, Stack32>, &PushSeg<uint, Stack64>,
                    &PushSeg<ulong, Stack16>, &PushSeg<ulong, Stack32>, &PushSeg<ulong, Stack64>);
                return true;
            case Mnemonic.Push:
                op.R1 = op.R0;
                op.Handler = ins.Op0Kind switch
                {
                    OpKind.Register => PushOf<FromReg>(width, stack),
                    OpKind.Memory => PushOf<FromMem>(width, stack),
                    _ => PushOf<FromImm>(width, stack),
                };
                return true;
            case Mnemonic.Pop when ins.Op0Kind == OpKind.Register && ins.Op0Register.IsSegmentRegister():
                op.Cond = (byte)(ins.Op0Register - Register.ES);
                op.Handler = ByWidth(width, stack,
                    &System.SegmentInstructions.PopSreg<ushort, Stack16>, &System.SegmentInstructions.PopSreg<ushort, Stack32>, &System.SegmentInstructions.PopSreg<ushort, Stack64>,
                    &System.SegmentInstructions.PopSreg<uint, Stack16>, &System.SegmentInstructions.PopSreg<uint, Stack32>, &System.SegmentInstructions.PopSreg<uint, Stack64>,
                    &System.SegmentInstructions.PopSreg<ulong, Stack16>, &System.SegmentInstructions.PopSreg<ulong, Stack32>, &System.SegmentInstructions.PopSreg<ulong, Stack64>);
                return true;
            case Mnemonic.Pop when ins.Op0Kind == OpKind.Register:
                op.Handler = ByWidth(width, stack,
                    &PopReg<ushort, Stack16>, &PopReg<ushort, Stack32>, &PopReg<ushort, Stack64>,
                    &PopReg<uint, Stack16>, &PopReg<uint, Stack32>, &PopReg<uint, Stack64>,
                    &PopReg<ulong, Stack16>, &PopReg<ulong, Stack32>, &PopReg<ulong, Stack64>);
                return true;
            case Mnemonic.Pop:
                op.Handler = ByWidth(width, stack,
                    &PopMem<ushort, Stack16>, &PopMem<ushort, Stack32>, &PopMem<ushort, Stack64>,
                    &PopMem<uint, Stack16>, &PopMem<uint, Stack32>, &PopMem<uint, Stack64>,
                    &PopMem<ulong, Stack16>, &PopMem<ulong, Stack32>, &PopMem<ulong, Stack64>);
                return true;
            case Mnemonic.Pushf: case Mnemonic.Pushfd: case Mnemonic.Pushfq:
                op.Handler = ByWidth(width, stack,
                    &Pushf<ushort, Stack16>, &Pushf<ushort, Stack32>, &Pushf<ushort, Stack64>,
                    &Pushf<uint, Stack16>, &Pushf<uint, Stack32>, &Pushf<uint, Stack64>,
                    &Pushf<ulong, Stack16>, &Pushf<ulong, Stack32>, &Pushf<ulong, Stack64>);
                return true;
            case Mnemonic.Popf: case Mnemonic.Popfd: case Mnemonic.Popfq:
                op.Handler = ByWidth(width, stack,
                    &Popf<ushort, Stack16>, &Popf<ushort, Stack32>, &Popf<ushort, Stack64>,
                    &Popf<uint, Stack16>, &Popf<uint, Stack32>, &Popf<uint, Stack64>,
                    &Popf<ulong, Stack16>, &Popf<ulong, Stack32>, &Popf<ulong, Stack64>);
                return true;
            case Mnemonic.Pusha: case Mnemonic.Pushad:
                op.Handler = ByWidth(width / 8, stack,
                    &Pusha<ushort, Stack16>, &Pusha<ushort, Stack32>, &Pusha<ushort, Stack64>,
                    &Pusha<uint, Stack16>, &Pusha<uint, Stack32>, &Pusha<uint, Stack64>,
                    &Pusha<ulong, Stack16>, &Pusha<ulong, Stack32>, &Pusha<ulong, Stack64>);
                return true;
            case Mnemonic.Popa: case Mnemonic.Popad:
                op.Handler = ByWidth(width / 8, stack,
                    &Popa<ushort, Stack16>, &Popa<ushort, Stack32>, &Popa<ushort, Stack64>,
                    &Popa<uint, Stack16>, &Popa<uint, Stack32>, &Popa<uint, Stack64>,
                    &Popa<ulong, Stack16>, &Popa<ulong, Stack32>, &Popa<ulong, Stack64>);
                return true;
            case Mnemonic.Enter:
            {
                int w = ins.Code switch { Code.Enterw_imm16_imm8 => 2, Code.Enterd_imm16_imm8 => 4, _ => 8 };
                op.Handler = ByWidth(w, stack,
                    &Enter<ushort, Stack16>, &Enter<ushort, Stack32>, &Enter<ushort, Stack64>,
                    &Enter<uint, Stack16>, &Enter<uint, Stack32>, &Enter<uint, Stack64>,
                    &Enter<ulong, Stack16>, &Enter<ulong, Stack32>, &Enter<ulong, Stack64>);
                return true;
            }
            case Mnemonic.Leave:
            {
                int w = ins.Code switch { Code.Leavew => 2, Code.Leaved => 4, _ => 8 };
                op.Handler = ByWidth(w, stack,
                    &Leave<ushort, Stack16>, &Leave<ushort, Stack32>, &Leave<ushort, Stack64>,
                    &Leave<uint, Stack16>, &Leave<uint, Stack32>, &Leave<uint, Stack64>,
                    &Leave<ulong, Stack16>, &Leave<ulong, Stack32>, &Leave<ulong, Stack64>);
                return true;
            }
        }
        return false;
    }
}
