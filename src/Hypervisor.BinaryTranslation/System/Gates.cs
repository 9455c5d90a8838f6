using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// One attempt to enter a handler through the IVT or IDT (Intel SDM Vol. 3, 6.12, 6.14, 20.1.4, 20.3.1 and
/// Vol. 2A INT n pseudocode). Every check and every memory access happens before any register changes, so a
/// false return (fault pending in <see cref="CpuContext.Exception"/>) leaves the vCPU as it was.
/// </summary>
internal static class Gates
{
    public static bool TryDeliver(CpuContext c, byte vector, EventSource source, bool hasError, uint error)
    {
        uint ext = source == EventSource.Software ? 0u : 1u;
        bool pushError = source == EventSource.Exception && InterruptDelivery.PushesErrorCode(vector);
        if (!hasError) error = 0;
        return c.Mode switch
        {
            CpuMode.Real => DeliverReal(c, vector, ext),
            CpuMode.Long64 or CpuMode.Compatibility => DeliverLong(c, vector, source, pushError, error, ext),
            _ => DeliverProtected(c, vector, source, pushError, error, ext),
        };
    }

    private static uint IdtError(byte vector, uint ext) => (uint)vector * 8 + 2 + ext;

    /// <summary>Real mode: the IVT entry is IP:CS at IDTR.base + 4 * vector; FLAGS, CS, IP are pushed.</summary>
    private static bool DeliverReal(CpuContext c, byte vector, uint ext)
    {
        var idt = c.Architectural.Idtr;
        if ((ulong)vector * 4 + 3 > idt.Limit) return c.Fault(Vectors.GeneralProtection, IdtError(vector, ext));
        if (!SystemMemory.ReadU32(c, idt.Base + (ulong)vector * 4, out uint entry)) return false;
        ulong flags = c.GetRflags();
        ulong spMask = StackFrame.SpMask(c);
        Span<ulong> frame = [flags & 0xFFFF, c.Segments[SegmentLoader.Cs].Selector, c.Rip & 0xFFFF];
        if (!StackFrame.CheckCurrent(c, c.Gpr(4), spMask, 6, pop: false, 0)) return false;
        if (!StackFrame.Push(c, c.Segments[SegmentLoader.Ss].Base, c.Gpr(4), spMask, frame, 2, out ulong sp, StackFrame.UserStack(c))) return false;
        StackFrame.SetSp(c, sp, spMask);
        c.Rflags = flags & ~(FlagBits.IF | FlagBits.TF | FlagBits.AC | FlagBits.RF);
        c.CcOp = 0;
        SegmentLoader.LoadReal(c, SegmentLoader.Cs, (ushort)(entry >> 16));
        c.Rip = entry & 0xFFFF;
        return true;
    }

    private static bool DeliverProtected(CpuContext c, byte vector, EventSource source, bool pushError, uint error, uint ext)
    {
        uint idtError = IdtError(vector, ext);
        var idt = c.Architectural.Idtr;
        if ((ulong)vector * 8 + 7 > idt.Limit) return c.Fault(Vectors.GeneralProtection, idtError);
        if (!SystemMemory.ReadU64(c, idt.Base + (ulong)vector * 8, out ulong raw)) return false;
        var gate = new Descriptor(raw);
        bool valid = !gate.CodeOrData && gate.Type is SystemType.TaskGate or SystemType.InterruptGate16
            or SystemType.TrapGate16 or SystemType.InterruptGate32 or SystemType.TrapGate32;
        if (!valid) return c.Fault(Vectors.GeneralProtection, idtError);
        if (source == EventSource.Software && gate.Dpl < c.Cpl) return c.Fault(Vectors.GeneralProtection, IdtError(vector, 0));
        if (!gate.Present) return c.Fault(Vectors.SegmentNotPresent, idtError);
        if (gate.Type == SystemType.TaskGate)
            return TaskSwitch.ThroughTaskGate(c, gate.GateSelector, ext, pushError, error);

        bool gate32 = (gate.Type & 8) != 0;
        bool interruptGate = (gate.Type & 1) == 0;
        ulong offset = gate32 ? gate.GateOffset & 0xFFFF_FFFF : gate.GateOffset & 0xFFFF;
        ushort selector = gate.GateSelector;
        if (DescriptorTable.IsNull(selector)) return c.Fault(Vectors.GeneralProtection, ext);
        var result = DescriptorTable.Read(c, selector, out var code, out ulong codeAddress);
        if (result == LookupResult.MemoryFault) return false;
        uint selError = DescriptorTable.ErrorCode(selector, ext);
        int cpl = c.Cpl;
        if (result == LookupResult.OutsideLimit || !code.IsCode || code.Dpl > cpl)
            return c.Fault(Vectors.GeneralProtection, selError);
        if (!code.Present) return c.Fault(Vectors.SegmentNotPresent, selError);

        bool v86 = c.Mode == CpuMode.Virtual8086;
        ulong flags = c.GetRflags();
        int slot = gate32 ? 4 : 2;
        Span<ulong> frame = stackalloc ulong[10];
        int n = 0;
        int newCpl;
        Descriptor stack = default;
        ulong stackAddress = 0;
        ushort newSs = 0;
        ulong stackBase, sp, spMask;
        if (!code.IsConforming && code.Dpl < cpl)
        {
            // Inner privilege: the handler's stack comes from the TSS (Intel SDM Vol. 3, 6.12.1).
            newCpl = code.Dpl;
            if (v86 && newCpl != 0) return c.Fault(Vectors.GeneralProtection, selError);
            if (!TaskStateSegment.ReadLegacyStack(c, newCpl, ext, out newSs, out ulong newEsp)) return false;
            if (!CheckNewStack(c, newSs, newCpl, ext, Vectors.InvalidTss, out stack, out stackAddress)) return false;
            if (v86)
            {
                frame[n++] = c.Segments[SegmentLoader.Gs].Selector;
                frame[n++] = c.Segments[SegmentLoader.Fs].Selector;
                frame[n++] = c.Segments[SegmentLoader.Ds].Selector;
                frame[n++] = c.Segments[SegmentLoader.Es].Selector;
            }
            frame[n++] = c.Segments[SegmentLoader.Ss].Selector;
            frame[n++] = c.Gpr(4);
            stackBase = stack.Base;
            spMask = stack.DefaultBig ? 0xFFFF_FFFF : 0xFFFF;
            sp = newEsp;
        }
        else if (code.IsConforming || code.Dpl == cpl)
        {
            if (v86) return c.Fault(Vectors.GeneralProtection, selError);
            newCpl = cpl;
            stackBase = c.Segments[SegmentLoader.Ss].Base;
            spMask = StackFrame.SpMask(c);
            sp = c.Gpr(4);
        }
        else return c.Fault(Vectors.GeneralProtection, selError);

        frame[n++] = flags;
        frame[n++] = c.Segments[SegmentLoader.Cs].Selector;
        frame[n++] = c.Rip;
        if (pushError) frame[n++] = error;
        // The frame must fit the stack (Vol. 2A INT n): #SS(new SS + EXT) on the TSS stack, #SS(EXT) on the current one.
        if (newCpl != cpl)
        {
            if (!StackFrame.PushFits(stack.ToSegment(newSs), sp, spMask, n * slot))
                return c.Fault(Vectors.StackFault, DescriptorTable.ErrorCode(newSs, ext));
        }
        else if (!StackFrame.CheckCurrent(c, sp, spMask, n * slot, pop: false, ext)) return false;
        if (offset > code.Limit) return c.Fault(Vectors.GeneralProtection, ext);
        if (!StackFrame.Push(c, stackBase, sp, spMask, frame[..n], slot, out ulong newSp, newCpl == 3)) return false;
        if (newCpl != cpl && !DescriptorTable.SetAccessed(c, stackAddress, stack)) return false;
        if (!DescriptorTable.SetAccessed(c, codeAddress, code)) return false;

        // Commit: flags first (VM = 0 leaves virtual-8086 mode), then SS, then CS.
        c.Rflags = (flags & ~InterruptDelivery.EntryClearedFlags & ~(interruptGate ? FlagBits.IF : 0)) | FlagBits.Reserved1;
        c.CcOp = 0;
        if (newCpl != cpl)
        {
            if (v86)
            {
                SegmentLoader.LoadNull(c, SegmentLoader.Gs, 0);
                SegmentLoader.LoadNull(c, SegmentLoader.Fs, 0);
                SegmentLoader.LoadNull(c, SegmentLoader.Ds, 0);
                SegmentLoader.LoadNull(c, SegmentLoader.Es, 0);
            }
            SegmentLoader.Commit(c, SegmentLoader.Ss, newSs, stack);
        }
        StackFrame.SetSp(c, newSp, spMask);
        SegmentLoader.Commit(c, SegmentLoader.Cs, (ushort)((selector & 0xFFFC) | newCpl), code);
        c.Rip = offset;
        return true;
    }

    /// <summary>
    /// Checks the SS a privilege change switches to (from the TSS or a far return): RPL = DPL = the new CPL, a
    /// writable data segment, present. Failures raise <paramref name="faultVector"/>(selector) (#TS for TSS
    /// stacks, #GP for RET/IRET) and #SS when not present.
    /// </summary>
    internal static bool CheckNewStack(CpuContext c, ushort selector, int newCpl, uint ext, byte faultVector,
        out Descriptor stack, out ulong address)
    {
        stack = default;
        address = 0;
        if (DescriptorTable.IsNull(selector)) return c.Fault(faultVector, ext);
        var result = DescriptorTable.Read(c, selector, out stack, out address);
        if (result == LookupResult.MemoryFault) return false;
        uint error = DescriptorTable.ErrorCode(selector, ext);
        if (result == LookupResult.OutsideLimit || (selector & 3) != newCpl || stack.Dpl != newCpl || !stack.IsWritableData)
            return c.Fault(faultVector, error);
        if (!stack.Present) return c.Fault(Vectors.StackFault, error);
        return true;
    }

    private static bool IsCanonical(ulong address) => (ulong)((long)(address << 16) >> 16) == address;

    /// <summary>IA-32e mode: 16-byte gates, 64-bit frames, RSP aligned to 16, IST stacks (Intel SDM Vol. 3, 6.14).</summary>
    private static bool DeliverLong(CpuContext c, byte vector, EventSource source, bool pushError, uint error, uint ext)
    {
        uint idtError = IdtError(vector, ext);
        var idt = c.Architectural.Idtr;
        if ((ulong)vector * 16 + 15 > idt.Limit) return c.Fault(Vectors.GeneralProtection, idtError);
        ulong at = idt.Base + (ulong)vector * 16;
        if (!SystemMemory.ReadU64(c, at, out ulong low) || !SystemMemory.ReadU64(c, at + 8, out ulong high)) return false;
        var gate = new Descriptor(low, high);
        bool valid = !gate.CodeOrData && gate.Type is SystemType.InterruptGate32 or SystemType.TrapGate32 && gate.HighType == 0;
        if (!valid) return c.Fault(Vectors.GeneralProtection, idtError);
        if (source == EventSource.Software && gate.Dpl < c.Cpl) return c.Fault(Vectors.GeneralProtection, IdtError(vector, 0));
        if (!gate.Present) return c.Fault(Vectors.SegmentNotPresent, idtError);

        ushort selector = gate.GateSelector;
        if (DescriptorTable.IsNull(selector)) return c.Fault(Vectors.GeneralProtection, ext);
        var result = DescriptorTable.Read(c, selector, out var code, out ulong codeAddress);
        if (result == LookupResult.MemoryFault) return false;
        uint selError = DescriptorTable.ErrorCode(selector, ext);
        int cpl = c.Cpl;
        if (result == LookupResult.OutsideLimit || !code.IsCode || code.Dpl > cpl || !code.Is64BitCode)
            return c.Fault(Vectors.GeneralProtection, selError);
        if (!code.Present) return c.Fault(Vectors.SegmentNotPresent, selError);
        ulong offset = gate.GateOffset;
        if (!IsCanonical(offset)) return c.Fault(Vectors.GeneralProtection, ext);

        int newCpl = code.IsConforming ? cpl : code.Dpl;
        ulong rsp = c.Gpr(4);
        if (newCpl < cpl && !TaskStateSegment.ReadLongStack(c, newCpl, 0, ext, out rsp)) return false;
        if (gate.Ist != 0 && !TaskStateSegment.ReadLongStack(c, 0, gate.Ist, ext, out rsp)) return false;
        if (!IsCanonical(rsp)) return c.Fault(Vectors.StackFault, ext);
        rsp &= ~0xFUL;

        ulong flags = c.GetRflags();
        Span<ulong> frame =
        [
            c.Segments[SegmentLoader.Ss].Selector, c.Gpr(4), flags, c.Segments[SegmentLoader.Cs].Selector, c.Rip, error,
        ];
        int n = pushError ? 6 : 5;
        if (!StackFrame.Push(c, 0, rsp, ulong.MaxValue, frame[..n], 8, out ulong newRsp, newCpl == 3)) return false;
        if (!DescriptorTable.SetAccessed(c, codeAddress, code)) return false;

        c.Rflags = (flags & ~InterruptDelivery.EntryClearedFlags & ~(gate.Type == SystemType.InterruptGate32 ? FlagBits.IF : 0))
                   | FlagBits.Reserved1;
        c.CcOp = 0;
        // A privilege change loads SS with a null selector whose RPL is the new CPL (Intel SDM Vol. 3, 6.14.4).
        if (newCpl != cpl) SegmentLoader.LoadNullStack(c, (ushort)newCpl, newCpl);
        c.Gpr(4) = newRsp;
        SegmentLoader.Commit(c, SegmentLoader.Cs, (ushort)((selector & 0xFFFC) | newCpl), code);
        c.Rip = offset;
        return true;
    }
}
