using Hypervisor.BinaryTranslation.Instructions;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Decoding;

/// <summary>What a family binder needs to know besides the instruction.</summary>
/// <param name="SseEnabled">CR4.OSFXSR = 1 and CR0.EM = 0.</param>
/// <param name="FpuEmulated">CR0.EM.</param>
/// <param name="TaskSwitched">CR0.TS: the first FPU/SSE instruction raises #NM.</param>
public readonly record struct BindContext(
    int CodeBits, int StackBits, CpuMode Mode, bool SseEnabled = true, bool FpuEmulated = false, bool TaskSwitched = false);

/// <summary>
/// Turns an Iced <see cref="Instruction"/> into an <see cref="Op"/>: extracts the operands once, then asks each
/// instruction family (Instructions/) to pick the handler. An instruction no family binds raises #UD, which is
/// what a CPU whose CPUID does not advertise it does.
/// </summary>
public static unsafe class OpBinder
{
    public static byte RegOffset(Register r)
    {
        if (r >= Register.AH && r <= Register.BH) return (byte)((r - Register.AH) * 8 + 1);
        var full = r.GetFullRegister();
        if (full >= Register.RAX && full <= Register.R15) return (byte)((full - Register.RAX) * 8);
        throw new ArgumentException($"{r} is not a general-purpose register");
    }

    public static bool IsGpr(Register r) => r.IsGPR();

    /// <summary>Address size in bits of the instruction's memory operand (0x67 and the mode decide it).</summary>
    public static int AddressBits(in Instruction ins, int codeBits)
    {
        var b = ins.MemoryBase;
        if (b == Register.RIP) return 64;
        if (b == Register.EIP) return 32;
        if (b != Register.None) return b.GetSize() * 8;
        var i = ins.MemoryIndex;
        if (i != Register.None) return i.GetSize() * 8;
        return ins.MemoryDisplSize switch { 2 => 16, 4 => 32, 8 => 64, _ => codeBits };
    }

    public static void SetMemory(ref Op op, in Instruction ins, int codeBits)
    {
        int addressBits = AddressBits(ins, codeBits);
        op.AddrShift = (byte)(64 - addressBits);
        op.Seg = (byte)(ins.MemorySegment - Register.ES);
        var b = ins.MemoryBase;
        if (b == Register.RIP || b == Register.EIP)
        {
            // Iced resolved the target; keep it relative to the next instruction so the block is position independent.
            op.Base = RegisterFile.RipOffset;
            op.Disp = (long)(ins.MemoryDisplacement64 - ins.NextIP);
        }
        else
        {
            op.Base = b == Register.None ? RegisterFile.ZeroOffset : RegOffset(b);
            op.Disp = (long)ins.MemoryDisplacement64;
        }
        op.Index = ins.MemoryIndex == Register.None ? RegisterFile.ZeroOffset : RegOffset(ins.MemoryIndex);
        op.Scale = (byte)global::System.Numerics.BitOperations.Log2((uint)Math.Max(1, ins.MemoryIndexScale));
    }

    /// <summary>Operand size in bytes: the destination register's, else the memory operand's.</summary>
    public static int OperandSize(in Instruction ins)
    {
        if (ins.OpCount == 0) return 0;
        if (ins.Op0Kind == OpKind.Register && ins.Op0Register.IsGPR()) return ins.Op0Register.GetSize();
        if (ins.Op0Kind == OpKind.Memory || (ins.OpCount > 1 && ins.Op1Kind == OpKind.Memory))
            return ins.MemorySize.GetSize();
        return 0;
    }

    /// <summary>Fills <paramref name="op"/>; returns false when no family implements the instruction.</summary>
    public static bool Bind(in Instruction ins, ref Op op, in BindContext ctx)
    {
        op.Length = (byte)ins.Length;
        op.R0 = op.R1 = op.Base = op.Index = RegisterFile.ZeroOffset;
        op.Seg = (byte)SegmentIndex.Ds;
        bool haveImmediate = false;
        for (int i = 0; i < ins.OpCount; i++)
        {
            var kind = ins.GetOpKind(i);
            switch (kind)
            {
                case OpKind.Register:
                    var r = ins.GetOpRegister(i);
                    if (!r.IsGPR()) break;
                    if (i == 0) op.R0 = RegOffset(r);
                    else if (op.R1 == RegisterFile.ZeroOffset) op.R1 = RegOffset(r);
                    break;
                case OpKind.Memory:
                    SetMemory(ref op, ins, ctx.CodeBits);
                    break;
                case OpKind.NearBranch16:
                case OpKind.NearBranch32:
                case OpKind.NearBranch64:
                    op.Imm = ins.NearBranchTarget - ins.NextIP;
                    break;
                default:
                    if (OperandForms.IsImmediate(kind))
                    {
                        if (!haveImmediate) op.Imm = ins.GetImmediate(i);
                        else op.Aux2 = (ushort)ins.GetImmediate(i);
                        haveImmediate = true;
                    }
                    break;
            }
        }
        int size = OperandSize(ins);
        op.Handler = null;
        return Arithmetic.Bind(ins, ref op, size)
               || Logic.Bind(ins, ref op, size)
               || Shifts.Bind(ins, ref op, size)
               || MulDiv.Bind(ins, ref op, size)
               || BitOps.Bind(ins, ref op, size)
               || Exchange.Bind(ins, ref op, size)
               || DataMovement.Bind(ins, ref op, size, ctx)
               || Stack.Bind(ins, ref op, size, ctx)
               || ControlFlow.Bind(ins, ref op, size, ctx)
               || Strings.Bind(ins, ref op, ctx)
               || Bcd.Bind(ins, ref op, ctx)
               || Misc.Bind(ins, ref op, ctx)
               || global::Hypervisor.BinaryTranslation.System.PrivilegedBinder.Bind(ins, ref op, ctx)
               || Instructions.Sse.SseBinder.Bind(ins, ref op, ctx)
               || Instructions.Fpu.FpuBinder.Bind(ins, ref op, ctx)
               || Instructions.Mmx.MmxBinder.Bind(ins, ref op, ctx)
               || System.SystemBinder.Bind(ins, ref op, ctx);
    }
}
