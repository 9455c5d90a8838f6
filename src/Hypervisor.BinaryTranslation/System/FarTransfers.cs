using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Instructions;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// Far JMP, CALL and RET (Intel SDM Vol. 2A JMP, CALL, Vol. 2B RET; Vol. 3, 5.8): real and virtual-8086 mode,
/// code segments (conforming and non-conforming), call gates (16/32-bit with stack switch and parameter copy,
/// 64-bit in IA-32e mode), task gates and TSS descriptors (hardware task switch). T is the operand size.
/// For direct forms op.Imm holds the offset and op.Aux2 the selector; indirect forms read m16:T.
/// </summary>
public static unsafe class FarTransfers
{
    private static bool IsCanonical(ulong address) => (ulong)((long)(address << 16) >> 16) == address;

    private static bool ReadPointer<T>(CpuContext c, ref Op op, out ulong offset, out ushort selector) where T : unmanaged
    {
        selector = 0;
        ulong linear = Addressing.Linear(c, ref op);
        if (!c.Read<T>(linear, out offset)) return false;
        if (!c.Read<ushort>((linear + (ulong)sizeof(T)) & c.LinearMask, out ulong s)) return false;
        selector = (ushort)s;
        return true;
    }

    public static bool JmpFarDirect<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        Transfer(c, op.Aux2, op.Imm & Sz<T>.Mask, sizeof(T), isCall: false);
        return false;
    }

    public static bool JmpFarIndirect<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        if (ReadPointer<T>(c, ref op, out ulong offset, out ushort selector)) Transfer(c, selector, offset, sizeof(T), isCall: false);
        return false;
    }

    public static bool CallFarDirect<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        Transfer(c, op.Aux2, op.Imm & Sz<T>.Mask, sizeof(T), isCall: true);
        return false;
    }

    public static bool CallFarIndirect<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        if (ReadPointer<T>(c, ref op, out ulong offset, out ushort selector)) Transfer(c, selector, offset, sizeof(T), isCall: true);
        return false;
    }

    /// <summary>A far JMP or CALL to selector:offset; false with a fault pending (nothing changed).</summary>
    internal static bool Transfer(CpuContext c, ushort selector, ulong offset, int size, bool isCall)
    {
        if (c.Mode is CpuMode.Real or CpuMode.Virtual8086)
        {
            if (offset > c.Segments[SegmentLoader.Cs].Limit && c.Mode == CpuMode.Real && size == 4)
                return c.Fault(Vectors.GeneralProtection, 0);
            ulong sp = 0;
            if (isCall && !PushReturn(c, size, out sp)) return false;
            if (isCall) StackFrame.SetSp(c, sp, StackFrame.SpMask(c));
            SegmentLoader.LoadReal(c, SegmentLoader.Cs, selector);
            c.Rip = offset & (size == 2 ? 0xFFFFUL : 0xFFFF_FFFFUL);
            return true;
        }
        if (DescriptorTable.IsNull(selector)) return c.Fault(Vectors.GeneralProtection, 0);
        var result = DescriptorTable.Read(c, selector, out var d, out ulong address);
        if (result == LookupResult.MemoryFault) return false;
        uint error = DescriptorTable.ErrorCode(selector);
        if (result == LookupResult.OutsideLimit) return c.Fault(Vectors.GeneralProtection, error);
        int cpl = c.Cpl;
        if (d.IsCode)
        {
            if (d.IsConforming ? d.Dpl > cpl : (selector & 3) > cpl || d.Dpl != cpl)
                return c.Fault(Vectors.GeneralProtection, error);
            if (!d.Present) return c.Fault(Vectors.SegmentNotPresent, error);
            return EnterSamePrivilege(c, selector, address, d, offset, size, isCall);
        }
        if (d.CodeOrData) return c.Fault(Vectors.GeneralProtection, error);

        bool longMode = c.Mode is CpuMode.Long64 or CpuMode.Compatibility;
        switch (d.Type)
        {
            case SystemType.CallGate32:
            case SystemType.CallGate16 when !longMode:
                break;
            case SystemType.TaskGate when !longMode:
            case SystemType.Tss16Available when !longMode:
            case SystemType.Tss32Available when !longMode:
                if (d.Dpl < cpl || d.Dpl < (selector & 3)) return c.Fault(Vectors.GeneralProtection, error);
                if (!d.Present) return c.Fault(Vectors.SegmentNotPresent, error);
                return TaskSwitch.FromFarTransfer(c, selector, address, d, isCall);
            default:
                return c.Fault(Vectors.GeneralProtection, error);
        }
        if (longMode)
        {
            // 16-byte call gate in IA-32e mode (Intel SDM Vol. 3, 5.8.3.1).
            result = DescriptorTable.ReadSystem(c, selector, out d, out address);
            if (result == LookupResult.MemoryFault) return false;
            if (result == LookupResult.OutsideLimit || d.HighType != 0) return c.Fault(Vectors.GeneralProtection, error);
        }
        if (d.Dpl < cpl || d.Dpl < (selector & 3)) return c.Fault(Vectors.GeneralProtection, error);
        if (!d.Present) return c.Fault(Vectors.SegmentNotPresent, error);
        return ThroughCallGate(c, d, longMode, isCall);
    }

    /// <summary>Pushes CS and the return offset on the current stack (with the operand size); SP is set by the caller.</summary>
    private static bool PushReturn(CpuContext c, int size, out ulong newSp)
    {
        newSp = 0;
        if (!StackFrame.CheckCurrent(c, c.Gpr(4), StackFrame.SpMask(c), 2 * size, pop: false, 0)) return false;
        Span<ulong> frame = [c.Segments[SegmentLoader.Cs].Selector, c.Rip];
        return StackFrame.Push(c, c.Segments[SegmentLoader.Ss].Base, c.Gpr(4), StackFrame.SpMask(c), frame, size, out newSp, StackFrame.UserStack(c));
    }

    /// <summary>The offset check of the target: canonical for 64-bit code, else within the limit.</summary>
    private static bool TargetOk(CpuContext c, in Descriptor code, ulong offset)
    {
        bool longMode = c.Mode is CpuMode.Long64 or CpuMode.Compatibility;
        return longMode && code.Long ? IsCanonical(offset) : offset <= code.Limit;
    }

    private static bool EnterSamePrivilege(CpuContext c, ushort selector, ulong address, in Descriptor code, ulong offset,
        int size, bool isCall)
    {
        if (!TargetOk(c, code, offset)) return c.Fault(Vectors.GeneralProtection, 0);
        ulong sp = 0;
        if (isCall && !PushReturn(c, size, out sp)) return false;
        ulong spMask = StackFrame.SpMask(c);
        if (!SegmentLoader.CommitCode(c, (ushort)((selector & 0xFFFC) | c.Cpl), address, code)) return false;
        if (isCall) StackFrame.SetSp(c, sp, spMask);
        c.Rip = offset;
        return true;
    }

    private static bool ThroughCallGate(CpuContext c, in Descriptor gate, bool longMode, bool isCall)
    {
        ushort target = gate.GateSelector;
        if (DescriptorTable.IsNull(target)) return c.Fault(Vectors.GeneralProtection, 0);
        var result = DescriptorTable.Read(c, target, out var code, out ulong codeAddress);
        if (result == LookupResult.MemoryFault) return false;
        uint error = DescriptorTable.ErrorCode(target);
        int cpl = c.Cpl;
        if (result == LookupResult.OutsideLimit || !code.IsCode || code.Dpl > cpl || (longMode && !code.Is64BitCode))
            return c.Fault(Vectors.GeneralProtection, error);
        // JMP through a call gate never changes privilege (Intel SDM Vol. 3, 5.8.6).
        if (!isCall && !code.IsConforming && code.Dpl != cpl) return c.Fault(Vectors.GeneralProtection, error);
        if (!code.Present) return c.Fault(Vectors.SegmentNotPresent, error);
        bool gate32 = gate.Type == SystemType.CallGate32;
        ulong offset = longMode ? gate.GateOffset : gate32 ? gate.GateOffset & 0xFFFF_FFFF : gate.GateOffset & 0xFFFF;
        int size = longMode ? 8 : gate32 ? 4 : 2;
        if (!isCall || code.IsConforming || code.Dpl == cpl)
            return EnterSamePrivilege(c, target, codeAddress, code, offset, size, isCall);
        if (!TargetOk(c, code, offset)) return c.Fault(Vectors.GeneralProtection, 0);
        return longMode
            ? CallGateInner64(c, target, codeAddress, code, offset)
            : CallGateInnerLegacy(c, gate, target, codeAddress, code, offset, size);
    }

    /// <summary>A CALL through a 16/32-bit call gate to an inner ring: TSS stack, parameters copied (Vol. 3, 5.8.5).</summary>
    private static bool CallGateInnerLegacy(CpuContext c, in Descriptor gate, ushort target, ulong codeAddress,
        in Descriptor code, ulong offset, int size)
    {
        int newCpl = code.Dpl;
        if (!TaskStateSegment.ReadLegacyStack(c, newCpl, 0, out ushort newSs, out ulong newEsp)) return false;
        if (!Gates.CheckNewStack(c, newSs, newCpl, 0, Vectors.InvalidTss, out var stack, out ulong stackAddress)) return false;
        int count = gate.ParameterCount;
        Span<ulong> frame = stackalloc ulong[4 + 31];
        int n = 0;
        frame[n++] = c.Segments[SegmentLoader.Ss].Selector;
        frame[n++] = c.Gpr(4);
        if (count > 0)
        {
            if (!StackFrame.CheckCurrent(c, c.Gpr(4), StackFrame.SpMask(c), count * size, pop: true, 0)) return false;
            Span<ulong> parameters = stackalloc ulong[count];
            if (!StackFrame.Pop(c, c.Segments[SegmentLoader.Ss].Base, c.Gpr(4), StackFrame.SpMask(c), parameters, size, StackFrame.UserStack(c)))
                return false;
            for (int i = count - 1; i >= 0; i--) frame[n++] = parameters[i];
        }
        frame[n++] = c.Segments[SegmentLoader.Cs].Selector;
        frame[n++] = c.Rip;
        ulong spMask = stack.DefaultBig ? 0xFFFF_FFFF : 0xFFFF;
        // The new stack must hold SS:eSP, the parameters and CS:eIP: #SS(new SS) otherwise (Vol. 2A CALL).
        if (!StackFrame.PushFits(stack.ToSegment(newSs), newEsp, spMask, n * size))
            return c.Fault(Vectors.StackFault, DescriptorTable.ErrorCode(newSs));
        if (!StackFrame.Push(c, stack.Base, newEsp, spMask, frame[..n], size, out ulong sp, user: false)) return false;
        if (!DescriptorTable.SetAccessed(c, stackAddress, stack)) return false;
        if (!DescriptorTable.SetAccessed(c, codeAddress, code)) return false;
        SegmentLoader.Commit(c, SegmentLoader.Ss, newSs, stack);
        StackFrame.SetSp(c, sp, spMask);
        SegmentLoader.Commit(c, SegmentLoader.Cs, (ushort)((target & 0xFFFC) | newCpl), code);
        c.Rip = offset;
        return true;
    }

    /// <summary>A CALL through a 64-bit call gate to an inner ring: RSPn from the TSS, SS = null(new CPL), no parameters.</summary>
    private static bool CallGateInner64(CpuContext c, ushort target, ulong codeAddress, in Descriptor code, ulong offset)
    {
        int newCpl = code.Dpl;
        if (!TaskStateSegment.ReadLongStack(c, newCpl, 0, 0, out ulong rsp)) return false;
        if (!IsCanonical(rsp)) return c.Fault(Vectors.StackFault, 0);
        Span<ulong> frame = [c.Segments[SegmentLoader.Ss].Selector, c.Gpr(4), c.Segments[SegmentLoader.Cs].Selector, c.Rip];
        if (!StackFrame.Push(c, 0, rsp, ulong.MaxValue, frame, 8, out ulong sp, user: false)) return false;
        if (!DescriptorTable.SetAccessed(c, codeAddress, code)) return false;
        SegmentLoader.LoadNullStack(c, (ushort)newCpl, newCpl);
        c.Gpr(4) = sp;
        SegmentLoader.Commit(c, SegmentLoader.Cs, (ushort)((target & 0xFFFC) | newCpl), code);
        c.Rip = offset;
        return true;
    }

    /// <summary>RET far [imm16] with operand size T (op.Imm = bytes to release).</summary>
    public static bool RetFar<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        Return(c, sizeof(T), op.Imm & 0xFFFF);
        return false;
    }

    private static bool Return(CpuContext c, int size, ulong release)
    {
        ulong ssBase = c.Segments[SegmentLoader.Ss].Base;
        ulong spMask = StackFrame.SpMask(c);
        ulong sp = c.Gpr(4);
        Span<ulong> frame = stackalloc ulong[4];
        // The return address must lie inside SS (Vol. 2B RET: "IF top 4/8 bytes of stack not within stack limits").
        if (!StackFrame.CheckCurrent(c, sp, spMask, 2 * size, pop: true, 0)) return false;
        if (!StackFrame.Pop(c, ssBase, sp, spMask, frame[..2], size, StackFrame.UserStack(c))) return false;
        ulong offset = frame[0];
        ushort selector = (ushort)frame[1];
        if (c.Mode is CpuMode.Real or CpuMode.Virtual8086)
        {
            if (offset > c.Segments[SegmentLoader.Cs].Limit && c.Mode == CpuMode.Real && size == 4)
                return c.Fault(Vectors.GeneralProtection, 0);
            SegmentLoader.LoadReal(c, SegmentLoader.Cs, selector);
            StackFrame.SetSp(c, sp + (ulong)(2 * size) + release, spMask);
            c.Rip = offset & 0xFFFF_FFFF;
            return true;
        }
        if (DescriptorTable.IsNull(selector)) return c.Fault(Vectors.GeneralProtection, 0);
        var result = DescriptorTable.Read(c, selector, out var code, out ulong codeAddress);
        if (result == LookupResult.MemoryFault) return false;
        uint error = DescriptorTable.ErrorCode(selector);
        int cpl = c.Cpl, rpl = selector & 3;
        bool longMode = c.Mode is CpuMode.Long64 or CpuMode.Compatibility;
        if (result == LookupResult.OutsideLimit || !code.IsCode || rpl < cpl
            || (code.IsConforming ? code.Dpl > rpl : code.Dpl != rpl) || (longMode && code.Long && code.DefaultBig))
            return c.Fault(Vectors.GeneralProtection, error);
        if (!code.Present) return c.Fault(Vectors.SegmentNotPresent, error);
        if (!TargetOk(c, code, offset)) return c.Fault(Vectors.GeneralProtection, 0);
        ulong mask = size == 2 ? 0xFFFFUL : size == 4 ? 0xFFFF_FFFFUL : ulong.MaxValue;
        if (rpl == cpl)
        {
            if (!DescriptorTable.SetAccessed(c, codeAddress, code)) return false;
            SegmentLoader.Commit(c, SegmentLoader.Cs, selector, code);
            StackFrame.SetSp(c, sp + (ulong)(2 * size) + release, spMask);
            c.Rip = offset & mask;
            return true;
        }
        // Outer privilege: SS:rSP of the caller sit above the released parameters.
        ulong outer = sp + (ulong)(2 * size) + release;
        // "IF top (16 + SRC) bytes of stack are not within stack limits THEN #SS(0)" (8 + SRC for 16 bits).
        if (!StackFrame.CheckCurrent(c, sp, spMask, 4 * size + (int)release, pop: true, 0)) return false;
        if (!StackFrame.Pop(c, ssBase, outer, spMask, frame[2..4], size, StackFrame.UserStack(c))) return false;
        ushort ssSelector = (ushort)frame[3];
        Descriptor stack = default;
        ulong stackAddress = 0;
        bool nullStack = DescriptorTable.IsNull(ssSelector) && c.Mode == CpuMode.Long64 && code.Long && rpl != 3
                         && (ssSelector & 3) == rpl;
        if (!nullStack && !Gates.CheckNewStack(c, ssSelector, rpl, 0, Vectors.GeneralProtection, out stack, out stackAddress))
            return false;
        if (!DescriptorTable.SetAccessed(c, codeAddress, code)) return false;
        if (!nullStack && !DescriptorTable.SetAccessed(c, stackAddress, stack)) return false;
        if (nullStack) SegmentLoader.LoadNullStack(c, ssSelector, rpl);
        else SegmentLoader.Commit(c, SegmentLoader.Ss, ssSelector, stack);
        SegmentLoader.Commit(c, SegmentLoader.Cs, selector, code);
        ulong newMask = StackFrame.SpMask(c);
        StackFrame.SetSp(c, (frame[2] + release) & newMask, newMask);
        c.Rip = offset & mask;
        SegmentLoader.NullInaccessibleDataSegments(c);
        return true;
    }
}
