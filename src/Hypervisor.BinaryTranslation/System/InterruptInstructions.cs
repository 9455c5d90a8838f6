using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// INT n, INT3, INTO, INT1 and IRET/IRETD/IRETQ (Intel SDM Vol. 2A INT n, Vol. 2A IRET). All end the block.
/// The software interrupts deliver in the handler: RIP already points past the instruction (a trap), and a fault
/// during delivery is reported on the instruction itself, with nothing changed.
/// </summary>
public static unsafe class InterruptInstructions
{
    private static int Iopl(CpuContext c) => (int)((c.Rflags & FlagBits.IOPL) >> FlagBits.IoplShift);

    /// <summary>INT imm8 (vector in op.Imm). In virtual-8086 mode it needs IOPL = 3 (no VME).</summary>
    public static bool IntN(CpuContext c, ref Op op)
    {
        if (c.Mode == CpuMode.Virtual8086 && Iopl(c) < 3) return c.Fault(Vectors.GeneralProtection, 0);
        Gates.TryDeliver(c, (byte)op.Imm, EventSource.Software, false, 0);
        return false;
    }

    public static bool Int3(CpuContext c, ref Op op)
    {
        Gates.TryDeliver(c, Vectors.Breakpoint, EventSource.Software, false, 0);
        return false;
    }

    /// <summary>INTO: #OF as a trap when OF = 1.</summary>
    public static bool Into(CpuContext c, ref Op op)
    {
        if ((c.GetRflags() & FlagBits.OF) != 0) Gates.TryDeliver(c, Vectors.Overflow, EventSource.Software, false, 0);
        return false;
    }

    /// <summary>INT1 (ICEBP): a #DB trap without the gate DPL check.</summary>
    public static bool Int1(CpuContext c, ref Op op)
    {
        Gates.TryDeliver(c, Vectors.Debug, EventSource.Icebp, false, 0);
        return false;
    }

    private const ulong Iret32Writable = 0x257FD5;

    /// <summary>IRET with operand size T: 16 (IRET), 32 (IRETD) or 64 bits (IRETQ).</summary>
    public static bool Iret<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        int size = sizeof(T);
        bool ok;
        switch (c.Mode)
        {
            case CpuMode.Real:
                ok = IretReal(c, size, false);
                break;
            case CpuMode.Virtual8086:
                if (Iopl(c) < 3) return c.Fault(Vectors.GeneralProtection, 0);
                ok = IretReal(c, size, true);
                break;
            default:
                if ((c.GetRflags() & FlagBits.NT) != 0)
                {
                    // IA-32e mode has no hardware task switching (Intel SDM Vol. 2A IRET: "IF EFER.LMA = 1 ... #GP(0)").
                    if (c.Mode is CpuMode.Long64 or CpuMode.Compatibility) return c.Fault(Vectors.GeneralProtection, 0);
                    ok = TaskSwitch.ReturnFromNestedTask(c);
                }
                else ok = IretProtected(c, size);
                break;
        }
        if (ok) c.NmiBlocked = false;
        return false;
    }

    /// <summary>Real mode and virtual-8086 mode with IOPL = 3: IP, CS, FLAGS; V86 keeps IOPL (and VM, VIF, VIP).</summary>
    private static bool IretReal(CpuContext c, int size, bool v86)
    {
        ulong spMask = StackFrame.SpMask(c);
        Span<ulong> frame = stackalloc ulong[3];
        if (!StackFrame.CheckCurrent(c, c.Gpr(4), spMask, 3 * size, pop: true, 0)) return false;
        if (!StackFrame.Pop(c, c.Segments[SegmentLoader.Ss].Base, c.Gpr(4), spMask, frame, size, StackFrame.UserStack(c))) return false;
        ulong ip = frame[0];
        if (ip > 0xFFFF && size == 4) return c.Fault(Vectors.GeneralProtection, 0);
        ulong old = c.GetRflags();
        ulong writable = size == 2 ? 0x7FD5UL : Iret32Writable;
        if (v86) writable &= ~FlagBits.IOPL;
        ulong flags = (old & ~writable) | (frame[2] & writable) | FlagBits.Reserved1;
        StackFrame.SetSp(c, c.Gpr(4) + (ulong)(3 * size), spMask);
        c.Rflags = flags;
        c.CcOp = 0;
        SegmentLoader.LoadReal(c, SegmentLoader.Cs, (ushort)frame[1]);
        c.Rip = ip & 0xFFFF;
        return true;
    }

    private static bool IsCanonical(ulong address) => (ulong)((long)(address << 16) >> 16) == address;

    /// <summary>Protected and IA-32e mode IRET: same privilege, outer privilege, 64-bit (always SS:RSP), or to V86.</summary>
    private static bool IretProtected(CpuContext c, int size)
    {
        bool long64 = c.Mode == CpuMode.Long64;
        bool longActive = c.Mode == CpuMode.Compatibility || long64;
        ulong ssBase = c.Segments[SegmentLoader.Ss].Base;
        ulong spMask = StackFrame.SpMask(c);
        ulong sp = c.Gpr(4);
        Span<ulong> frame = stackalloc ulong[9];
        // Vol. 2A IRET: the 6/12/24-byte frame must lie inside SS (#SS(0)); the 64-bit stack has no limit.
        if (!StackFrame.CheckCurrent(c, sp, spMask, 3 * size, pop: true, 0)) return false;
        if (!StackFrame.Pop(c, ssBase, sp, spMask, frame[..3], size, StackFrame.UserStack(c))) return false;
        ulong tempFlags = frame[2];
        int cpl = c.Cpl;
        if (!longActive && size == 4 && (tempFlags & FlagBits.VM) != 0 && cpl == 0)
        {
            if (!StackFrame.CheckCurrent(c, sp, spMask, 36, pop: true, 0)) return false;
            if (!StackFrame.Pop(c, ssBase, sp, spMask, frame, 4, StackFrame.UserStack(c))) return false;
            return ReturnToV86(c, frame, spMask);
        }

        ushort csSelector = (ushort)frame[1];
        if (DescriptorTable.IsNull(csSelector)) return c.Fault(Vectors.GeneralProtection, 0);
        var result = DescriptorTable.Read(c, csSelector, out var code, out ulong codeAddress);
        if (result == LookupResult.MemoryFault) return false;
        uint csError = DescriptorTable.ErrorCode(csSelector);
        int rpl = csSelector & 3;
        if (result == LookupResult.OutsideLimit || !code.IsCode || rpl < cpl
            || (code.IsConforming ? code.Dpl > rpl : code.Dpl != rpl)
            || (longActive && code.Long && code.DefaultBig))
            return c.Fault(Vectors.GeneralProtection, csError);
        if (!code.Present) return c.Fault(Vectors.SegmentNotPresent, csError);

        bool toLong = longActive && code.Long;
        ulong rip = frame[0];
        if (toLong ? !IsCanonical(rip) : rip > code.Limit) return c.Fault(Vectors.GeneralProtection, 0);

        bool switchStack = long64 || rpl > cpl;
        Descriptor stack = default;
        ulong stackAddress = 0;
        ushort ssSelector = 0;
        ulong newSp = 0;
        bool nullStack = false;
        if (switchStack)
        {
            if (!StackFrame.CheckCurrent(c, sp, spMask, 5 * size, pop: true, 0)) return false;
            if (!StackFrame.Pop(c, ssBase, sp, spMask, frame[..5], size, StackFrame.UserStack(c))) return false;
            newSp = frame[3];
            ssSelector = (ushort)frame[4];
            if (DescriptorTable.IsNull(ssSelector) && long64 && toLong && rpl != 3 && (ssSelector & 3) == rpl) nullStack = true;
            else if (!Gates.CheckNewStack(c, ssSelector, rpl, 0, Vectors.GeneralProtection, out stack, out stackAddress))
                return false;
        }

        ulong old = c.GetRflags();
        ulong writable = FlagBits.Status | FlagBits.TF | FlagBits.DF | FlagBits.NT | FlagBits.RF | FlagBits.AC | FlagBits.ID;
        if (cpl <= Iopl(c)) writable |= FlagBits.IF;
        if (cpl == 0) writable |= FlagBits.IOPL | FlagBits.VIF | FlagBits.VIP;
        if (size == 2) writable &= 0xFFFF;
        ulong flags = (old & ~writable) | (tempFlags & writable) | FlagBits.Reserved1;

        if (!DescriptorTable.SetAccessed(c, codeAddress, code)) return false;
        if (switchStack && !nullStack && !DescriptorTable.SetAccessed(c, stackAddress, stack)) return false;

        c.Rflags = flags;
        c.CcOp = 0;
        if (switchStack)
        {
            if (nullStack) SegmentLoader.LoadNullStack(c, ssSelector, rpl);
            else SegmentLoader.Commit(c, SegmentLoader.Ss, ssSelector, stack);
            // rSP takes the popped value with the operand size (a 16-bit IRET replaces SP only).
            StackFrame.SetSp(c, newSp, size == 2 ? 0xFFFF : size == 4 ? 0xFFFF_FFFF : ulong.MaxValue);
        }
        else StackFrame.SetSp(c, sp + (ulong)(3 * size), spMask);
        SegmentLoader.Commit(c, SegmentLoader.Cs, csSelector, code);
        c.Rip = toLong ? rip : rip & (size == 2 ? 0xFFFFUL : 0xFFFF_FFFFUL);
        if (rpl > cpl) SegmentLoader.NullInaccessibleDataSegments(c);
        return true;
    }

    /// <summary>IRETD at CPL 0 with VM = 1 in the image: EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS (Intel SDM Vol. 2A IRET).</summary>
    private static bool ReturnToV86(CpuContext c, ReadOnlySpan<ulong> frame, ulong spMask)
    {
        c.Rflags = (frame[2] & 0x3F_7FD5) | FlagBits.Reserved1 | FlagBits.VM;
        c.CcOp = 0;
        c.Segments[SegmentLoader.Cs] = V86Segment((ushort)frame[1], code: true);
        c.Segments[SegmentLoader.Ss] = V86Segment((ushort)frame[4], code: false);
        c.Segments[SegmentLoader.Es] = V86Segment((ushort)frame[5], code: false);
        c.Segments[SegmentLoader.Ds] = V86Segment((ushort)frame[6], code: false);
        c.Segments[SegmentLoader.Fs] = V86Segment((ushort)frame[7], code: false);
        c.Segments[SegmentLoader.Gs] = V86Segment((ushort)frame[8], code: false);
        c.Gpr(4) = (uint)frame[3];
        c.UpdateMode();
        c.Rip = frame[0] & 0xFFFF;
        return true;
    }

    /// <summary>A virtual-8086 segment: base = selector * 16, 64 KiB, DPL 3 (Intel SDM Vol. 3, 20.2.1).</summary>
    internal static SegmentRegister V86Segment(ushort selector, bool code)
    {
        var s = SegmentRegister.RealMode(selector, code);
        s.Dpl = 3;
        s.Type |= 1;
        return s;
    }
}
