using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Instructions;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// MOV Sreg, POP Sreg and LDS/LES/LFS/LGS/LSS (Intel SDM Vol. 2). They end the block: an SS load changes the
/// stack size the following ops were bound with, and MOV SS / POP SS hold off interrupts for one instruction.
/// </summary>
public static unsafe class SegmentInstructions
{
    /// <summary>MOV Sreg, r/m16 (op.Cond = segment). A register source uses its low 16 bits.</summary>
    public static bool MovToSreg<TSrc>(CpuContext c, ref Op op) where TSrc : struct, ISource
    {
        if (!TSrc.Get<ushort>(c, ref op, out ulong selector)) return false;
        if (!SegmentLoader.Load(c, op.Cond, (ushort)selector)) return false;
        if (op.Cond == SegmentLoader.Ss) c.InterruptShadow = true;
        return false;
    }

    /// <summary>POP Sreg: the selector is loaded before rSP moves, so a faulting load leaves the stack unchanged.</summary>
    public static bool PopSreg<T, TStack>(CpuContext c, ref Op op) where T : unmanaged where TStack : struct, IStackWidth
    {
        if (!StackOps.Peek<T, TStack>(c, 0, out ulong selector)) return false;
        if (!SegmentLoader.Load(c, op.Cond, (ushort)selector)) return false;
        // The SP update uses the stack width in force when the instruction began (a POP SS may change SS.B).
        StackOps.Release<T, TStack>(c);
        if (op.Cond == SegmentLoader.Ss) c.InterruptShadow = true;
        return false;
    }

    /// <summary>LDS/LES/LFS/LGS/LSS r, m16:T - offset first, selector after it.</summary>
    public static bool LoadFarPointer<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        ulong linear = Addressing.Linear(c, ref op);
        if (!c.Read<T>(linear, out ulong offset)) return false;
        if (!c.Read<ushort>((linear + (ulong)sizeof(T)) & c.LinearMask, out ulong selector)) return false;
        if (!SegmentLoader.Load(c, op.Cond, (ushort)selector)) return false;
        c.SetReg<T>(op.R0, offset);
        return false;
    }
}
