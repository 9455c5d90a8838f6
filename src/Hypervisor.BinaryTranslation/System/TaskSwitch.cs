using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// Hardware task switching (Intel SDM Vol. 3, 7.3): JMP/CALL to a TSS or task gate, interrupts through task
/// gates, and IRET with NT = 1. 16- and 32-bit TSSs; IA-32e mode has none (callers raise #GP there).
/// Checks that can fail before the switch leave everything unchanged; faults while loading the new task's
/// segments happen in the context of the new task and are delivered here (Table 7-1).
/// </summary>
internal static unsafe class TaskSwitch
{
    private enum Reason : byte { Jump, Call, Interrupt, Iret }

    /// <summary>JMP/CALL far to a TSS descriptor or a task gate (privilege checks on it already done).</summary>
    public static bool FromFarTransfer(CpuContext c, ushort selector, ulong address, in Descriptor d, bool isCall)
    {
        var reason = isCall ? Reason.Call : Reason.Jump;
        if (d.Type != SystemType.TaskGate) return Switch(c, selector, address, d, reason, 0);
        return SwitchToGateTarget(c, d.GateSelector, reason, 0, Vectors.GeneralProtection);
    }

    /// <summary>An interrupt or exception through a task gate; the error code goes onto the new task's stack.</summary>
    public static bool ThroughTaskGate(CpuContext c, ushort tssSelector, uint ext, bool pushError, uint error) =>
        SwitchToGateTarget(c, tssSelector, Reason.Interrupt, ext, Vectors.GeneralProtection, pushError, error);

    private static bool SwitchToGateTarget(CpuContext c, ushort tssSelector, Reason reason, uint ext, byte vector,
        bool pushError = false, uint errorCode = 0)
    {
        uint error = DescriptorTable.ErrorCode(tssSelector, ext);
        if ((tssSelector & DescriptorTable.TableIndicator) != 0) return c.Fault(vector, error);
        var result = DescriptorTable.Read(c, tssSelector, out var tss, out ulong address);
        if (result == LookupResult.MemoryFault) return false;
        if (result == LookupResult.OutsideLimit || tss.CodeOrData
            || tss.Type is not (SystemType.Tss16Available or SystemType.Tss32Available))
            return c.Fault(vector, error);
        if (!tss.Present) return c.Fault(Vectors.SegmentNotPresent, error);
        return Switch(c, tssSelector, address, tss, reason, ext, pushError, errorCode);
    }

    /// <summary>IRET with NT = 1: back to the task in the current TSS's previous-task link, which must be busy.</summary>
    public static bool ReturnFromNestedTask(CpuContext c)
    {
        var tr = c.Architectural.Tr;
        if (!SystemMemory.ReadU16(c, tr.Base, out ushort link)) return false;
        uint error = DescriptorTable.ErrorCode(link);
        if ((link & DescriptorTable.TableIndicator) != 0) return c.Fault(Vectors.InvalidTss, error);
        var result = DescriptorTable.Read(c, link, out var tss, out ulong address);
        if (result == LookupResult.MemoryFault) return false;
        if (result == LookupResult.OutsideLimit || tss.CodeOrData
            || tss.Type is not (SystemType.Tss16Busy or SystemType.Tss32Busy))
            return c.Fault(Vectors.InvalidTss, error);
        if (!tss.Present) return c.Fault(Vectors.SegmentNotPresent, error);
        return Switch(c, link, address, tss, Reason.Iret, 0);
    }

    private static ulong OldTssDescriptorAddress(CpuContext c) =>
        c.Architectural.Gdtr.Base + (ulong)(c.Architectural.Tr.Selector & 0xFFF8);

    /// <summary>
    /// The switch itself (Intel SDM Vol. 3, 7.3). False only for faults before the commit point (nothing changed);
    /// a fault after it (Table 7-1, invalid PDPTEs, the error-code push) is delivered in the new task's context here.
    /// </summary>
    private static bool Switch(CpuContext c, ushort selector, ulong address, Descriptor tss, Reason reason, uint ext,
        bool pushError = false, uint errorCode = 0)
    {
        bool new32 = (tss.Type & 8) != 0;
        uint error = DescriptorTable.ErrorCode(selector, ext);
        if (tss.Limit < (new32 ? 0x67u : 0x2Bu)) return c.Fault(Vectors.InvalidTss, error);
        var oldTr = c.Architectural.Tr;
        bool old32 = (oldTr.Type & 8) != 0;
        if (oldTr.Limit < (old32 ? 0x5Fu : 0x29u)) return c.Fault(Vectors.InvalidTss, DescriptorTable.ErrorCode(oldTr.Selector, ext));

        // Everything that can fault before the switch: read the new image, write the old state.
        byte* image = stackalloc byte[104];
        if (!SystemMemory.Read(c, tss.Base, image, new32 ? 104 : 44)) return false;
        ulong flags = c.GetRflags();
        if (reason == Reason.Iret) flags &= ~FlagBits.NT;
        if (!SaveState(c, oldTr.Base, old32, flags)) return false;
        if (reason is Reason.Jump or Reason.Iret)
        {
            ulong oldAddress = OldTssDescriptorAddress(c);
            if (!SystemMemory.ReadU64(c, oldAddress, out ulong oldRaw)) return false;
            if (!DescriptorTable.SetBusy(c, oldAddress, new Descriptor(oldRaw), false)) return false;
        }
        if (reason is Reason.Call or Reason.Interrupt && !SystemMemory.WriteU16(c, tss.Base, oldTr.Selector)) return false;
        if (reason != Reason.Iret && !DescriptorTable.SetBusy(c, address, tss, true)) return false;

        // The switch: TR, CR0.TS, then the new task's registers.
        var tr = tss.ToSegment(selector);
        tr.Type |= 2;
        c.Architectural.Tr = tr;
        c.Architectural.Cr0 |= 8;
        DebugExceptions.TaskSwitched(c, new32 && (image[100] & 1) != 0);
        ulong newFlags = new32 ? *(uint*)(image + 36) : *(ushort*)(image + 16);
        if (reason is Reason.Call or Reason.Interrupt) newFlags |= FlagBits.NT;
        bool pdptesInvalid = false;
        if (new32)
        {
            if ((c.Architectural.Cr0 & 0x8000_0000) != 0) pdptesInvalid = !LoadCr3(c, *(uint*)(image + 28));
            c.Rip = *(uint*)(image + 32);
            for (int i = 0; i < 8; i++) c.Gpr(i) = *(uint*)(image + 40 + 4 * i);
        }
        else
        {
            // A 16-bit TSS holds 16-bit registers; the upper words of the 32-bit registers become FFFFh and the
            // upper word of EFLAGS 0 (what Bochs documents for 286 TSSs; the SDM leaves it unspecified).
            c.Rip = *(ushort*)(image + 14);
            for (int i = 0; i < 8; i++) c.Gpr(i) = 0xFFFF_0000U | *(ushort*)(image + 18 + 2 * i);
        }
        c.Rflags = (newFlags & 0x3F_7FD7) | FlagBits.Reserved1;
        c.CcOp = 0;
        // A 16-bit TSS has no FS/GS fields: they are loaded with null selectors (as Bochs and QEMU do).
        Span<ushort> selectors = stackalloc ushort[6];
        for (int i = 0; i < (new32 ? 6 : 4); i++)
            selectors[i] = new32 ? *(ushort*)(image + 72 + 4 * i) : *(ushort*)(image + 34 + 2 * i);
        ushort ldt = new32 ? *(ushort*)(image + 96) : *(ushort*)(image + 42);
        c.UpdateMode(); // CR0.TS and CR3 are part of the translation and decode state
        bool ok = LoadTaskSegments(c, selectors, ldt);
        // SDM 4.4.1: PAE paging reloads the PDPTEs when a task switch changes CR3; an invalid one is #GP(0),
        // raised once the new task's segments are loaded (CR3 and the PDPTEs keep their old values).
        if (ok && pdptesInvalid) ok = c.Fault(Vectors.GeneralProtection, 0);
        if (ok && pushError) ok = PushErrorCode(c, new32, errorCode);
        if (!ok) InterruptDelivery.DeliverException(c);
        return true;
    }

    /// <summary>
    /// Loads CR3 from a 32-bit TSS (paging enabled). Only a change flushes the TLB (SDM 4.10.4.1) and, with PAE
    /// paging, reloads the PDPTEs from the new table; false (CR3 unchanged) when a present PDPTE has a reserved bit.
    /// </summary>
    private static bool LoadCr3(CpuContext c, uint cr3)
    {
        var a = c.Architectural;
        ulong old = a.Cr3;
        if (old == cr3) return true;
        a.Cr3 = cr3;
        bool pae = (a.Cr4 & 0x20) != 0 && (a.Efer & (1 << 10)) == 0;
        if (pae && !c.LoadPdptes())
        {
            a.Cr3 = old;
            return false;
        }
        c.FlushTlb();
        return true;
    }

    /// <summary>The error code of an exception through a task gate, pushed on the new task's stack (dword for a 32-bit TSS).</summary>
    private static bool PushErrorCode(CpuContext c, bool tss32, uint errorCode)
    {
        int size = tss32 ? 4 : 2;
        ulong spMask = StackFrame.SpMask(c);
        ulong sp = c.Gpr(4);
        if (!StackFrame.CheckCurrent(c, sp, spMask, size, pop: false, 0)) return false;
        if (!StackFrame.Push(c, c.Segments[SegmentLoader.Ss].Base, sp, spMask, [errorCode], size, out ulong newSp,
                StackFrame.UserStack(c))) return false;
        StackFrame.SetSp(c, newSp, spMask);
        return true;
    }

    private static bool SaveState(CpuContext c, ulong tssBase, bool tss32, ulong flags)
    {
        if (tss32)
        {
            uint* dynamic = stackalloc uint[10];
            dynamic[0] = (uint)c.Rip;
            dynamic[1] = (uint)flags;
            for (int i = 0; i < 8; i++) dynamic[2 + i] = (uint)c.Gpr(i);
            if (!SystemMemory.Write(c, tssBase + 32, (byte*)dynamic, 40)) return false;
            for (int i = 0; i < 6; i++)
                if (!SystemMemory.WriteU16(c, tssBase + 72 + 4 * (ulong)i, c.Segments[i].Selector)) return false;
            return true;
        }
        ushort* state = stackalloc ushort[14];
        state[0] = (ushort)c.Rip;
        state[1] = (ushort)flags;
        for (int i = 0; i < 8; i++) state[2 + i] = (ushort)c.Gpr(i);
        for (int i = 0; i < 4; i++) state[10 + i] = c.Segments[i].Selector;
        return SystemMemory.Write(c, tssBase + 14, (byte*)state, 28);
    }

    /// <summary>Loads LDTR and the segment registers of the new task with the checks of Table 7-1 (#TS, #NP, #SS).</summary>
    private static bool LoadTaskSegments(CpuContext c, ReadOnlySpan<ushort> selectors, ushort ldt)
    {
        // Selectors first, descriptors after: a fault leaves the remaining registers unusable.
        for (int i = 0; i < 6; i++) c.Segments[i] = new SegmentRegister { Selector = selectors[i], Unusable = true };
        c.Architectural.Ldtr = new SegmentRegister { Selector = ldt, Unusable = true };
        if ((c.Rflags & FlagBits.VM) != 0)
        {
            for (int i = 0; i < 6; i++)
                c.Segments[i] = InterruptInstructions.V86Segment(selectors[i], i == SegmentLoader.Cs);
            c.UpdateMode();
            return true;
        }
        if (!DescriptorTable.IsNull(ldt))
        {
            uint ldtError = DescriptorTable.ErrorCode(ldt);
            if ((ldt & DescriptorTable.TableIndicator) != 0) return c.Fault(Vectors.InvalidTss, ldtError);
            var r = DescriptorTable.Read(c, ldt, out var ld, out _);
            if (r == LookupResult.MemoryFault) return false;
            if (r == LookupResult.OutsideLimit || ld.CodeOrData || ld.Type != SystemType.Ldt || !ld.Present)
                return c.Fault(Vectors.InvalidTss, ldtError);
            c.Architectural.Ldtr = ld.ToSegment(ldt);
        }
        ushort cs = selectors[SegmentLoader.Cs];
        int cpl = cs & 3;
        uint csError = DescriptorTable.ErrorCode(cs);
        if (DescriptorTable.IsNull(cs)) return c.Fault(Vectors.InvalidTss, 0);
        var result = DescriptorTable.Read(c, cs, out var code, out ulong codeAddress);
        if (result == LookupResult.MemoryFault) return false;
        if (result == LookupResult.OutsideLimit || !code.IsCode || (code.IsConforming ? code.Dpl > cpl : code.Dpl != cpl))
            return c.Fault(Vectors.InvalidTss, csError);
        if (!code.Present) return c.Fault(Vectors.SegmentNotPresent, csError);
        if (!Gates.CheckNewStack(c, selectors[SegmentLoader.Ss], cpl, 0, Vectors.InvalidTss, out var stack, out ulong stackAddress))
            return false;
        if (!DescriptorTable.SetAccessed(c, stackAddress, stack) || !DescriptorTable.SetAccessed(c, codeAddress, code)) return false;
        SegmentLoader.Commit(c, SegmentLoader.Ss, selectors[SegmentLoader.Ss], stack);
        SegmentLoader.Commit(c, SegmentLoader.Cs, cs, code);
        ReadOnlySpan<int> data = [SegmentLoader.Es, SegmentLoader.Ds, SegmentLoader.Fs, SegmentLoader.Gs];
        foreach (int i in data)
        {
            ushort s = selectors[i];
            if (DescriptorTable.IsNull(s))
            {
                SegmentLoader.LoadNull(c, i, s);
                continue;
            }
            uint error = DescriptorTable.ErrorCode(s);
            var r = DescriptorTable.Read(c, s, out var d, out ulong a);
            if (r == LookupResult.MemoryFault) return false;
            if (r == LookupResult.OutsideLimit || !d.IsReadable || (!d.IsConforming && (d.Dpl < cpl || d.Dpl < (s & 3))))
                return c.Fault(Vectors.InvalidTss, error);
            if (!d.Present) return c.Fault(Vectors.SegmentNotPresent, error);
            if (!DescriptorTable.SetAccessed(c, a, d)) return false;
            SegmentLoader.Commit(c, i, s, d);
        }
        return true;
    }
}
