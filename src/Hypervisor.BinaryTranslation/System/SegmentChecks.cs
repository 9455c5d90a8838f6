using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// Segment limit and rights checks outside 64-bit mode (Intel SDM Vol. 3, 5.3 and 5.4), kept off the flat fast path:
/// <see cref="CpuContext.UpdateMode"/> puts a bit per segment register whose accesses need checking (a limit below
/// 4 GiB, expand-down, read-only or unusable; bit 6: CS limit below 4 GiB) into the mode key, so blocks decoded
/// for flat segments contain no checks at all. For a non-flat segment the decoder puts a check op (length 0) in
/// front of each instruction that uses it: it tests the instruction's bytes against the CS limit, the explicit
/// memory operand against its segment, and the implicit stack range against SS, and faults (#GP(0), #SS(0))
/// before the instruction has done anything. RIP still points at the instruction when the check runs.
/// </summary>
public static unsafe class SegmentChecks
{
    public const int CodeFetchBit = 1 << 6;

    private const byte Read = 1, Write = 2, Memory = 4, Fetch = 8, StackAccess = 16, StackPush = 32;

    /// <summary>The check bits for the mode key: one per segment register that needs checks, and CS fetch.</summary>
    public static int ComputeMask(CpuContext c)
    {
        if (c.Mode == CpuMode.Long64) return 0;
        int mask = 0;
        for (int i = 0; i < 6; i++)
        {
            ref var s = ref c.Segments[i];
            bool flat = !s.Unusable && s.Limit == 0xFFFF_FFFF
                        && (i == (int)SegmentIndex.Cs ? (s.Type & 2) != 0 || (s.Type & 8) == 0 : (s.Type & 0xE) == 2);
            if (c.Mode is CpuMode.Real or CpuMode.Virtual8086) flat = !s.Unusable && s.Limit == 0xFFFF_FFFF && (s.Type & 4) == 0;
            if (!flat) mask |= 1 << i;
        }
        if (c.Segments[(int)SegmentIndex.Cs].Limit != 0xFFFF_FFFF) mask |= CodeFetchBit;
        return mask;
    }

    private static readonly InstructionInfoFactory InfoFactory = new();

    /// <summary>Builds the check op for an instruction, if any of the segments it uses needs one.</summary>
    public static bool Bind(in Instruction ins, int checkedSegments, int codeBits, out Op check)
    {
        check = default;
        byte flags = 0;
        if ((checkedSegments & CodeFetchBit) != 0) flags |= Fetch;
        int memoryOperand = -1;
        for (int i = 0; i < ins.OpCount; i++)
            if (ins.GetOpKind(i) == OpKind.Memory) memoryOperand = i;
        bool accessesMemory = memoryOperand >= 0 && ins.Mnemonic is not (Mnemonic.Lea or Mnemonic.Nop)
                              && !ins.IsStringInstruction;
        int segment = accessesMemory ? ins.MemorySegment - Register.ES : 0;
        if (accessesMemory && (checkedSegments & (1 << segment)) != 0)
        {
            var info = InfoFactory.GetInfo(ins);
            var access = info.GetOpAccess(memoryOperand);
            flags |= Memory;
            if (access is OpAccess.Read or OpAccess.ReadWrite or OpAccess.CondRead or OpAccess.ReadCondWrite) flags |= Read;
            if (access is OpAccess.Write or OpAccess.ReadWrite or OpAccess.CondWrite or OpAccess.ReadCondWrite) flags |= Write;
            OpBinder.SetMemory(ref check, ins, codeBits);
            check.Aux2 = (ushort)Math.Max(1, ins.MemorySize.GetSize());
        }
        int stack = ins.StackPointerIncrement;
        if (stack != 0 && (checkedSegments & (1 << (int)SegmentIndex.Ss)) != 0)
        {
            flags |= StackAccess;
            if (stack < 0) flags |= StackPush;
            check.Aux = (byte)Math.Min(255, Math.Abs(stack));
        }
        if (flags == 0) return false;
        check.Cond = flags;
        check.Imm = (ulong)ins.Length;
        check.Length = 0;
        check.Handler = &Check;
        return true;
    }

    public static bool Check(CpuContext c, ref Op op)
    {
        int flags = op.Cond;
        if ((flags & Fetch) != 0)
        {
            ulong limit = c.Segments[(int)SegmentIndex.Cs].Limit;
            if (c.Rip > limit || c.Rip + op.Imm - 1 > limit) return c.Fault(Vectors.GeneralProtection, 0);
        }
        if ((flags & Memory) != 0
            && !Within(c, op.Seg, Addressing.Effective(c, ref op), op.Aux2, (flags & Read) != 0, (flags & Write) != 0))
            return false;
        if ((flags & StackAccess) != 0)
        {
            ulong mask = c.StackBits == 16 ? 0xFFFFUL : 0xFFFF_FFFFUL;
            ulong sp = c.Gpr(4) & mask;
            bool push = (flags & StackPush) != 0;
            ulong start = push ? (sp - op.Aux) & mask : sp;
            if (!Within(c, (int)SegmentIndex.Ss, start, op.Aux, !push, push)) return false;
        }
        return true;
    }

    /// <summary>Whether [offset, offset + size) lies inside the segment and the access is allowed (else the fault is raised).</summary>
    public static bool Within(CpuContext c, int segment, ulong offset, int size, bool read, bool write)
    {
        ref var s = ref c.Segments[segment];
        byte vector = segment == (int)SegmentIndex.Ss ? Vectors.StackFault : Vectors.GeneralProtection;
        if (s.Unusable) return c.Fault(Vectors.GeneralProtection, 0);
        bool legacyRights = c.Mode is not (CpuMode.Real or CpuMode.Virtual8086);
        bool code = (s.Type & 8) != 0;
        if (legacyRights)
        {
            if (write && (code || (s.Type & 2) == 0)) return c.Fault(vector, 0);
            if (read && code && (s.Type & 2) == 0) return c.Fault(vector, 0);
        }
        ulong last = offset + (ulong)Math.Max(1, size) - 1;
        if (!code && (s.Type & 4) != 0)
        {
            // Expand-down: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF (D/B).
            ulong upper = s.DefaultBig ? 0xFFFF_FFFFUL : 0xFFFFUL;
            if (offset <= s.Limit || last > upper) return c.Fault(vector, 0);
        }
        else if (last > s.Limit) return c.Fault(vector, 0);
        return true;
    }
}
