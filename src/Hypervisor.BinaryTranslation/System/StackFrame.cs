using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// Writes and reads the multi-slot frames of interrupt delivery, IRET, far CALL/RET and call gates. A frame is
/// written in one access when it does not wrap the stack, so a #PF on any part of it leaves memory and
/// registers as they were; the caller commits registers only after the write succeeded.
/// </summary>
internal static unsafe class StackFrame
{
    /// <summary>
    /// Pushes <paramref name="values"/> (in push order) below <paramref name="sp"/> on the stack at
    /// <paramref name="stackBase"/>; returns the new stack pointer through <paramref name="newSp"/>.
    /// </summary>
    public static bool Push(CpuContext c, ulong stackBase, ulong sp, ulong spMask, ReadOnlySpan<ulong> values, int slotSize,
        out ulong newSp, bool user)
    {
        int n = values.Length;
        int total = n * slotSize;
        newSp = (sp - (ulong)total) & spMask;
        byte* frame = stackalloc byte[total];
        for (int i = 0; i < n; i++)
        {
            byte* slot = frame + (n - 1 - i) * slotSize;
            ulong v = values[i];
            for (int b = 0; b < slotSize; b++) slot[b] = (byte)(v >> (8 * b));
        }
        bool wraps = newSp + (ulong)total - 1 > spMask;
        if (!wraps) return SystemMemory.WriteStack(c, stackBase + newSp, frame, total, user);
        // A 16-bit SP near 0 (real mode SS:SP = x:0000): every slot is written at its wrapped offset.
        for (int i = 0; i < n; i++)
        {
            ulong at = (newSp + (ulong)(i * slotSize)) & spMask;
            if (!SystemMemory.WriteStack(c, stackBase + at, frame + i * slotSize, slotSize, user)) return false;
        }
        return true;
    }

    /// <summary>Reads <paramref name="values"/>.Length slots from sp upwards (values[0] is at sp, the next pop).</summary>
    public static bool Pop(CpuContext c, ulong stackBase, ulong sp, ulong spMask, Span<ulong> values, int slotSize, bool user)
    {
        int n = values.Length;
        int total = n * slotSize;
        byte* frame = stackalloc byte[total];
        bool wraps = (sp & spMask) + (ulong)total - 1 > spMask;
        if (!wraps)
        {
            if (!SystemMemory.ReadStack(c, stackBase + (sp & spMask), frame, total, user)) return false;
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                ulong at = (sp + (ulong)(i * slotSize)) & spMask;
                if (!SystemMemory.ReadStack(c, stackBase + at, frame + i * slotSize, slotSize, user)) return false;
            }
        }
        for (int i = 0; i < n; i++)
        {
            ulong v = 0;
            for (int b = 0; b < slotSize; b++) v |= (ulong)frame[i * slotSize + b] << (8 * b);
            values[i] = v;
        }
        return true;
    }

    /// <summary>
    /// Whether <paramref name="length"/> bytes from offset <paramref name="start"/> (offsets wrap at
    /// <paramref name="spMask"/>, as a 16-bit SP does) lie inside the stack segment: 0..limit, or limit+1..0xFFFF
    /// (B = 0) / 0xFFFFFFFF (B = 1) for an expand-down segment (Intel SDM Vol. 3, 5.3). A null SS (IA-32e mode
    /// only) is not limit-checked.
    /// </summary>
    public static bool Inside(in SegmentRegister s, ulong start, int length, ulong spMask)
    {
        if (s.Unusable || length == 0) return true;
        bool expandDown = s.CodeOrData && (s.Type & 0xC) == 4;
        ulong lower = expandDown ? (ulong)s.Limit + 1 : 0;
        ulong upper = expandDown ? (s.DefaultBig ? 0xFFFF_FFFFUL : 0xFFFFUL) : s.Limit;
        start &= spMask;
        ulong end = start + (ulong)length - 1;
        if (end <= spMask) return start >= lower && end <= upper;
        // The frame wraps the stack-pointer width: [start, mask] and [0, rest].
        return start >= lower && spMask <= upper && lower == 0 && end - spMask - 1 <= upper;
    }

    /// <summary>Whether a push of <paramref name="length"/> bytes below <paramref name="sp"/> stays inside the segment.</summary>
    public static bool PushFits(in SegmentRegister s, ulong sp, ulong spMask, int length) =>
        Inside(s, sp - (ulong)length, length, spMask);

    /// <summary>
    /// The limit check of the current stack before a frame is read or written: outside 64-bit mode, #SS(error)
    /// when [offset, offset + length) leaves SS. <paramref name="pop"/>: the bytes at rSP upwards; else a push below rSP.
    /// </summary>
    public static bool CheckCurrent(CpuContext c, ulong sp, ulong spMask, int length, bool pop, uint error)
    {
        if (c.Mode == CpuMode.Long64) return true;
        ref var ss = ref c.Segments[SegmentLoader.Ss];
        bool ok = pop ? Inside(ss, sp, length, spMask) : PushFits(ss, sp, spMask, length);
        return ok || c.Fault(Vectors.StackFault, error);
    }

    /// <summary>Whether the current stack is accessed with user rights (CPL 3).</summary>
    public static bool UserStack(CpuContext c) => c.Cpl == 3;

    /// <summary>Mask of the stack pointer a segment's B flag selects (64-bit mode: all 64 bits).</summary>
    public static ulong SpMask(CpuContext c) => c.StackBits switch { 16 => 0xFFFF, 32 => 0xFFFF_FFFF, _ => ulong.MaxValue };

    /// <summary>Sets rSP with the width the stack uses: a 16-bit stack changes SP only.</summary>
    public static void SetSp(CpuContext c, ulong sp, ulong spMask)
    {
        if (spMask == 0xFFFF) c.SetReg<ushort>(4 * 8, sp);
        else if (spMask == 0xFFFF_FFFF) c.SetReg<uint>(4 * 8, sp);
        else c.Gpr(4) = sp;
    }
}
