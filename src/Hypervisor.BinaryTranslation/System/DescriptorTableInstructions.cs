using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.Instructions;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// LGDT/LIDT/SGDT/SIDT, LLDT/SLDT, LTR/STR, LAR/LSL/VERR/VERW and ARPL (Intel SDM Vol. 2). op.Aux holds the
/// operand size in bytes; op.Cond selects GDTR (0) or IDTR (1) for the table-register forms.
/// </summary>
public static unsafe class DescriptorTableInstructions
{
    private const ulong Cr4Umip = 1 << 11;

    private static bool IsCanonical(ulong address) => (ulong)((long)(address << 16) >> 16) == address;

    /// <summary>CR4.UMIP makes the store forms privileged (Intel SDM Vol. 3, 2.5).</summary>
    private static bool UmipBlocks(CpuContext c) => (c.Architectural.Cr4 & Cr4Umip) != 0 && c.Cpl > 0;

    /// <summary>LGDT/LIDT m16&amp;32 (a 16-bit operand keeps 24 base bits) or m16&amp;64 in 64-bit mode.</summary>
    public static bool LoadTableRegister(CpuContext c, ref Op op)
    {
        if (c.Mode == CpuMode.Virtual8086 || c.Cpl != 0) return c.Fault(Vectors.GeneralProtection, 0);
        ulong linear = Addressing.Linear(c, ref op);
        if (!c.Read<ushort>(linear, out ulong limit)) return false;
        ulong baseAddress;
        if (c.Mode == CpuMode.Long64)
        {
            if (!c.Read<ulong>(linear + 2, out baseAddress)) return false;
            if (!IsCanonical(baseAddress)) return c.Fault(Vectors.GeneralProtection, 0);
        }
        else
        {
            if (!c.Read<uint>((linear + 2) & c.LinearMask, out baseAddress)) return false;
            if (op.Aux == 2) baseAddress &= 0xFF_FFFF;
        }
        var value = new DescriptorTableRegister { Base = baseAddress, Limit = (ushort)limit };
        if (op.Cond == 0) c.Architectural.Gdtr = value;
        else c.Architectural.Idtr = value;
        return true;
    }

    /// <summary>SGDT/SIDT: limit, then the base (all 32 bits outside 64-bit mode, as current processors store it).</summary>
    public static bool StoreTableRegister(CpuContext c, ref Op op)
    {
        if (UmipBlocks(c)) return c.Fault(Vectors.GeneralProtection, 0);
        var value = op.Cond == 0 ? c.Architectural.Gdtr : c.Architectural.Idtr;
        ulong linear = Addressing.Linear(c, ref op);
        int baseSize = c.Mode == CpuMode.Long64 ? 8 : 4;
        if (!c.ProbeWrite(linear, 2 + baseSize)) return false;
        if (!c.Write<ushort>(linear, value.Limit)) return false;
        return baseSize == 8 ? c.Write<ulong>(linear + 2, value.Base) : c.Write<uint>((linear + 2) & c.LinearMask, value.Base);
    }

    private static bool ProtectedModeOnly(CpuContext c) => c.Mode is not (CpuMode.Real or CpuMode.Virtual8086);

    /// <summary>LLDT r/m16: a GDT selector of an LDT descriptor, or null (LDTR unusable).</summary>
    public static bool Lldt<TSrc>(CpuContext c, ref Op op) where TSrc : struct, ISource
    {
        if (!ProtectedModeOnly(c)) return c.Fault(Vectors.InvalidOpcode);
        if (c.Cpl != 0) return c.Fault(Vectors.GeneralProtection, 0);
        if (!TSrc.Get<ushort>(c, ref op, out ulong value)) return false;
        ushort selector = (ushort)value;
        if (DescriptorTable.IsNull(selector))
        {
            c.Architectural.Ldtr = new SegmentRegister { Selector = selector, Unusable = true };
            return true;
        }
        uint error = DescriptorTable.ErrorCode(selector);
        if ((selector & DescriptorTable.TableIndicator) != 0) return c.Fault(Vectors.GeneralProtection, error);
        var result = DescriptorTable.ReadSystem(c, selector, out var d, out _);
        if (result == LookupResult.MemoryFault) return false;
        if (result == LookupResult.OutsideLimit || d.CodeOrData || d.Type != SystemType.Ldt)
            return c.Fault(Vectors.GeneralProtection, error);
        if (!CheckLongSystemDescriptor(c, d, error)) return false;
        if (!d.Present) return c.Fault(Vectors.SegmentNotPresent, error);
        c.Architectural.Ldtr = d.ToSegment(selector);
        return true;
    }

    /// <summary>LTR r/m16: an available TSS in the GDT becomes busy and current.</summary>
    public static bool Ltr<TSrc>(CpuContext c, ref Op op) where TSrc : struct, ISource
    {
        if (!ProtectedModeOnly(c)) return c.Fault(Vectors.InvalidOpcode);
        if (c.Cpl != 0) return c.Fault(Vectors.GeneralProtection, 0);
        if (!TSrc.Get<ushort>(c, ref op, out ulong value)) return false;
        ushort selector = (ushort)value;
        if (DescriptorTable.IsNull(selector)) return c.Fault(Vectors.GeneralProtection, 0);
        uint error = DescriptorTable.ErrorCode(selector);
        if ((selector & DescriptorTable.TableIndicator) != 0) return c.Fault(Vectors.GeneralProtection, error);
        var result = DescriptorTable.ReadSystem(c, selector, out var d, out ulong address);
        if (result == LookupResult.MemoryFault) return false;
        bool longMode = (c.Architectural.Efer & (1 << 10)) != 0;
        bool available = d.Type == SystemType.Tss32Available || (!longMode && d.Type == SystemType.Tss16Available);
        if (result == LookupResult.OutsideLimit || d.CodeOrData || !available)
            return c.Fault(Vectors.GeneralProtection, error);
        if (!CheckLongSystemDescriptor(c, d, error)) return false;
        if (!d.Present) return c.Fault(Vectors.SegmentNotPresent, error);
        if (!DescriptorTable.SetBusy(c, address, d, true)) return false;
        var tr = d.ToSegment(selector);
        tr.Type |= 2;
        c.Architectural.Tr = tr;
        return true;
    }

    /// <summary>IA-32e 16-byte system descriptors: the upper type field is 0 and the base canonical.</summary>
    private static bool CheckLongSystemDescriptor(CpuContext c, in Descriptor d, uint error)
    {
        if ((c.Architectural.Efer & (1 << 10)) == 0) return true;
        if (d.HighType != 0 || !IsCanonical(d.Base)) return c.Fault(Vectors.GeneralProtection, error);
        return true;
    }

    /// <summary>SLDT/STR to a register: the selector zero-extended to the operand size (op.Cond: 0 LDTR, 1 TR).</summary>
    public static bool StoreSystemSelectorReg<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        if (!ProtectedModeOnly(c)) return c.Fault(Vectors.InvalidOpcode);
        if (UmipBlocks(c)) return c.Fault(Vectors.GeneralProtection, 0);
        c.SetReg<T>(op.R0, op.Cond == 0 ? c.Architectural.Ldtr.Selector : c.Architectural.Tr.Selector);
        return true;
    }

    public static bool StoreSystemSelectorMem(CpuContext c, ref Op op)
    {
        if (!ProtectedModeOnly(c)) return c.Fault(Vectors.InvalidOpcode);
        if (UmipBlocks(c)) return c.Fault(Vectors.GeneralProtection, 0);
        return c.Write<ushort>(Addressing.Linear(c, ref op), op.Cond == 0 ? c.Architectural.Ldtr.Selector : c.Architectural.Tr.Selector);
    }

    private static void SetZf(CpuContext c, bool value)
    {
        c.MaterializeFlags();
        c.Rflags = value ? c.Rflags | FlagBits.ZF : c.Rflags & ~FlagBits.ZF;
    }

    /// <summary>
    /// The descriptor LAR/LSL/VERR/VERW look at, if it is visible at CPL and RPL: conforming code segments always
    /// are, everything else needs DPL &gt;= CPL and DPL &gt;= RPL. False with no fault pending: ZF = 0.
    /// </summary>
    private static bool Visible(CpuContext c, ushort selector, out Descriptor d, out bool faulted)
    {
        faulted = false;
        d = default;
        if (DescriptorTable.IsNull(selector)) return false;
        var result = DescriptorTable.Read(c, selector, out d, out _);
        if (result == LookupResult.MemoryFault)
        {
            faulted = true;
            return false;
        }
        if (result == LookupResult.OutsideLimit) return false;
        if (d.IsConforming) return true;
        return d.Dpl >= c.Cpl && d.Dpl >= (selector & 3);
    }

    /// <summary>
    /// System types LAR accepts (Intel SDM Vol. 2A LAR, "Segment and Gate Types"); LSL accepts the segments among
    /// them. In IA-32e mode Intel lists the LDT as valid for LSL but not for LAR (AMD accepts it for both).
    /// </summary>
    private static bool SystemTypeValid(CpuContext c, in Descriptor d, bool forLimit)
    {
        if (d.CodeOrData) return true;
        bool longMode = (c.Architectural.Efer & (1 << 10)) != 0;
        return d.Type switch
        {
            SystemType.Ldt => forLimit || !longMode,
            SystemType.Tss32Available or SystemType.Tss32Busy => true,
            SystemType.CallGate32 => !forLimit,
            SystemType.Tss16Available or SystemType.Tss16Busy => !longMode,
            SystemType.CallGate16 or SystemType.TaskGate => !forLimit && !longMode,
            _ => false,
        };
    }

    /// <summary>LAR r, r/m16: the access-rights bytes (high dword &amp; 0x00F0FF00; 0xFF00 for a 16-bit destination).</summary>
    public static bool Lar<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!ProtectedModeOnly(c)) return c.Fault(Vectors.InvalidOpcode);
        if (!TSrc.Get<ushort>(c, ref op, out ulong selector)) return false;
        bool ok = Visible(c, (ushort)selector, out var d, out bool faulted);
        if (faulted) return false;
        ok = ok && SystemTypeValid(c, d, forLimit: false);
        if (ok) c.SetReg<T>(op.R0, (d.Low >> 32) & (typeof(T) == typeof(ushort) ? 0xFF00UL : 0x00F0_FF00UL));
        SetZf(c, ok);
        return true;
    }

    /// <summary>LSL r, r/m16: the byte-granular segment limit.</summary>
    public static bool Lsl<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!ProtectedModeOnly(c)) return c.Fault(Vectors.InvalidOpcode);
        if (!TSrc.Get<ushort>(c, ref op, out ulong selector)) return false;
        bool ok = Visible(c, (ushort)selector, out var d, out bool faulted);
        if (faulted) return false;
        ok = ok && SystemTypeValid(c, d, forLimit: true);
        if (ok) c.SetReg<T>(op.R0, d.Limit);
        SetZf(c, ok);
        return true;
    }

    /// <summary>VERR (op.Cond = 0) / VERW (1) r/m16.</summary>
    public static bool Verify<TSrc>(CpuContext c, ref Op op) where TSrc : struct, ISource
    {
        if (!ProtectedModeOnly(c)) return c.Fault(Vectors.InvalidOpcode);
        if (!TSrc.Get<ushort>(c, ref op, out ulong selector)) return false;
        bool ok = Visible(c, (ushort)selector, out var d, out bool faulted);
        if (faulted) return false;
        ok = ok && d.CodeOrData && (op.Cond == 0 ? d.IsReadable : d.IsWritableData);
        SetZf(c, ok);
        return true;
    }

    /// <summary>ARPL r/m16, r16: raise the destination's RPL to the source's.</summary>
    public static bool Arpl<TDst>(CpuContext c, ref Op op) where TDst : struct, ISource
    {
        if (!ProtectedModeOnly(c)) return c.Fault(Vectors.InvalidOpcode);
        bool memory = typeof(TDst) == typeof(FromMem);
        ulong linear = memory ? Addressing.Linear(c, ref op) : 0;
        ulong dest;
        if (memory)
        {
            if (!c.Read<ushort>(linear, out dest)) return false;
        }
        else dest = c.GetReg<ushort>(op.R0);
        ulong source = c.GetReg<ushort>(op.R1);
        bool adjust = (dest & 3) < (source & 3);
        if (adjust)
        {
            dest = (dest & ~3UL) | (source & 3);
            if (memory) { if (!c.Write<ushort>(linear, dest)) return false; }
            else c.SetReg<ushort>(op.R0, dest);
        }
        SetZf(c, adjust);
        return true;
    }
}
