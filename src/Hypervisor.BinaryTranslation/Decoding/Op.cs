using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Decoding;

/// <summary>
/// One pre-decoded instruction: the handler that executes it and its operands, extracted once at decode time.
/// Registers are byte offsets into <see cref="RegisterFile"/>. Everything is relative to RIP (which the loop
/// advances to the next instruction before the handler runs, as the CPU does), so a block does not depend on
/// the linear address it was decoded at and can be cached by physical address.
/// </summary>
public unsafe struct Op
{
    /// <summary>Returns false to end the block: a control transfer, a fault, or a state change.</summary>
    public OpHandler Handler;

    /// <summary>Memory displacement (relative to the next instruction for RIP-relative operands).</summary>
    public long Disp;

    /// <summary>Immediate, sign-extended to 64 bits; for near branches the target relative to the next instruction.</summary>
    public ulong Imm;

    public byte Length;

    /// <summary>Register of operand 0.</summary>
    public byte R0;

    /// <summary>The other register operand (operand 1, or 2 when operand 1 is memory-or-register of IMUL r, r/m, imm).</summary>
    public byte R1;

    public byte Base;
    public byte Index;
    public byte Scale;
    public byte Seg;

    /// <summary>Effective addresses are masked with <c>ulong.MaxValue &gt;&gt; AddrShift</c> (address size 64/32/16).</summary>
    public byte AddrShift;

    /// <summary>Condition code (Jcc/SETcc/CMOVcc), or another small per-instruction parameter.</summary>
    public byte Cond;

    /// <summary>A second small parameter (the second immediate of ENTER, a port width...).</summary>
    public byte Aux;

    public ushort Aux2;
}


/// <summary>Address arithmetic over an <see cref="Op"/>'s memory operand.</summary>
public static class Addressing
{
    /// <summary>The effective address (offset within the segment), wrapped to the address size.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Effective(CpuContext c, ref Op op)
    {
        ulong ea = c.GetReg<ulong>(op.Base) + (c.GetReg<ulong>(op.Index) << op.Scale) + (ulong)op.Disp;
        return ea & (ulong.MaxValue >> op.AddrShift);
    }

    /// <summary>The linear address of the memory operand (segment base + effective address).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Linear(CpuContext c, ref Op op) =>
        (c.SegBase[op.Seg] + Effective(c, ref op)) & c.LinearMask;

    /// <summary>The linear address of a segment:offset pair.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Linear(CpuContext c, int segment, ulong offset) => (c.SegBase[segment] + offset) & c.LinearMask;
}
