using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Instructions;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// RDMSR/WRMSR (Intel SDM Vol. 2B; Vol. 4, Table 2-2 and the family 6 tables): the MSRs of the processor the CPUID
/// model describes. An MSR it does not have, a write to a read-only one, or a reserved bit raises #GP(0), so an
/// operating system's probing (rdmsr_safe) sees what real hardware without the feature answers. Values live in
/// <see cref="Hypervisor.Platform.Cpu.CpuState.Msrs"/> (keys = <see cref="MsrIndex"/>) unless they have a home of
/// their own (EFER, FS/GS bases, the local APIC), so Save/Load carry them.
/// </summary>
public static class MsrAccess
{
    /// <summary>IA32_MISC_ENABLE bits: fast strings (0), automatic thermal control (3), limit CPUID maxval (22).</summary>
    private const ulong MiscEnableWritable = 1UL << 0 | 1UL << 3 | 1UL << 22;

    /// <summary>Read-only: BTS unavailable (11), PEBS unavailable (12); bit 7 (performance monitoring) stays 0.</summary>
    private const ulong MiscEnableReadOnly = 1UL << 11 | 1UL << 12;

    private const ulong MiscEnableDefault = 1UL << 0 | MiscEnableReadOnly;

    /// <summary>IA32_FEATURE_CONTROL: locked (bit 0) with VMX and SMX off, as firmware leaves a CPU without VMX.</summary>
    private const ulong FeatureControlValue = 1;

    /// <summary>RDMSR. CPL 0 only; ECX selects the MSR; EDX:EAX receives it.</summary>
    public static bool Rdmsr(CpuContext c, ref Op op)
    {
        if (c.Cpl != 0) return c.Fault(Vectors.GeneralProtection, 0);
        if (!TryRead(c, (uint)c.Gpr(1), out ulong value)) return c.Fault(Vectors.GeneralProtection, 0);
        c.Gpr(0) = (uint)value;
        c.Gpr(2) = value >> 32;
        return true;
    }

    /// <summary>
    /// WRMSR. EFER changes the mode and IA32_APIC_BASE / IA32_TSC_DEADLINE can make an interrupt deliverable, so
    /// those end the block.
    /// </summary>
    public static bool Wrmsr(CpuContext c, ref Op op)
    {
        if (c.Cpl != 0) return c.Fault(Vectors.GeneralProtection, 0);
        uint index = (uint)c.Gpr(1);
        ulong value = (c.Gpr(2) << 32) | (uint)c.Gpr(0);
        if (!TryWrite(c, index, value)) return c.Fault(Vectors.GeneralProtection, 0);
        return index is not (MsrIndex.Efer or MsrIndex.ApicBase or MsrIndex.TscDeadline);
    }

    private static bool IsCanonical(ulong address) => (ulong)((long)(address << 16) >> 16) == address;

    private static ulong Stored(CpuContext c, uint index, ulong initial = 0) =>
        c.Architectural.Msrs.TryGetValue(index, out ulong v) ? v : initial;

    private static bool Store(CpuContext c, uint index, ulong value)
    {
        c.Architectural.Msrs[index] = value;
        return true;
    }

    private static bool HasMca(CpuidModel m) => (m.Leaf1Edx & (CpuidModel.Mce | CpuidModel.Mca)) == (CpuidModel.Mce | CpuidModel.Mca);

    /// <summary>Reads an MSR; false when the processor has no such MSR (#GP).</summary>
    public static bool TryRead(CpuContext c, uint index, out ulong value)
    {
        var a = c.Architectural;
        var model = c.Cpuid;
        value = 0;
        switch (index)
        {
            case MsrIndex.Tsc:
                value = c.ReadTsc();
                return true;
            case MsrIndex.PlatformId:
                return true;
            case MsrIndex.ApicBase:
                if (c.LocalApic == null) return false;
                value = c.LocalApic.ApicBase;
                return true;
            case MsrIndex.FeatureControl:
                value = FeatureControlValue;
                return true;
            case MsrIndex.BiosSignId:
                // As after "write 0, execute CPUID(1)", the sequence the SDM gives for reading the signature.
                value = (ulong)model.MicrocodeRevision << 32;
                return true;
            case MsrIndex.ArchCapabilities:
                if ((model.Query(7, 0).Edx & CpuidModel.ArchCapabilitiesBit) == 0) return false;
                value = model.ArchCapabilities;
                return true;
            case MsrIndex.SysenterCs:
            case MsrIndex.SysenterEsp:
            case MsrIndex.SysenterEip:
                if ((model.Leaf1Edx & CpuidModel.Sep) == 0) return false;
                value = Stored(c, index);
                return true;
            case MsrIndex.McgCap:
                // No error-reporting banks, no MCG_CTL, no CMCI or LMCE.
                return HasMca(model);
            case MsrIndex.McgStatus:
                if (!HasMca(model)) return false;
                value = Stored(c, index);
                return true;
            case MsrIndex.MiscEnable:
                value = Stored(c, index, MiscEnableDefault);
                return true;
            case MsrIndex.DebugCtl:
                value = Stored(c, index);
                return true;
            case MsrIndex.TscDeadline:
                if (c.LocalApic == null) return false;
                value = c.LocalApic.TscDeadline;
                return true;
            case MsrIndex.Pat:
                if ((model.Leaf1Edx & CpuidModel.Pat) == 0) return false;
                value = Stored(c, index, MsrMemoryTypes.PatDefault);
                return true;
            case MsrIndex.Efer:
                value = a.Efer;
                return true;
            case MsrIndex.Star:
            case MsrIndex.Lstar:
            case MsrIndex.Cstar:
            case MsrIndex.Sfmask:
            case MsrIndex.KernelGsBase:
                if ((model.Ext1Edx & CpuidModel.LongMode) == 0) return false;
                value = Stored(c, index);
                return true;
            case MsrIndex.FsBase:
                value = c.Segments[(int)SegmentIndex.Fs].Base;
                return (model.Ext1Edx & CpuidModel.LongMode) != 0;
            case MsrIndex.GsBase:
                value = c.Segments[(int)SegmentIndex.Gs].Base;
                return (model.Ext1Edx & CpuidModel.LongMode) != 0;
            case MsrIndex.TscAux:
                if ((model.Ext1Edx & CpuidModel.Rdtscp) == 0) return false;
                value = Stored(c, index);
                return true;
            default:
                if (!MsrMemoryTypes.IsMtrr(index) || (model.Leaf1Edx & CpuidModel.Mtrr) == 0) return false;
                value = Stored(c, index, MsrMemoryTypes.Default(index));
                return true;
        }
    }

    /// <summary>Writes an MSR; false when the MSR does not exist, is read-only, or a reserved bit is set (#GP).</summary>
    public static bool TryWrite(CpuContext c, uint index, ulong value)
    {
        var a = c.Architectural;
        var model = c.Cpuid;
        switch (index)
        {
            case MsrIndex.Tsc:
                // The counter continues from the written value (Vol. 3, 18.17).
                c.WriteTsc(value);
                return true;
            case MsrIndex.BiosSignId:
                // Software writes 0 before CPUID(1) to read the signature; the value read is always the signature.
                return true;
            case MsrIndex.ApicBase:
                if (c.LocalApic == null || !c.LocalApic.SetApicBase(value)) return false;
                a.ApicBase = c.LocalApic.ApicBase;
                // The APIC page may move over RAM a translation points at: drop them all.
                c.FlushTlbAll();
                return true;
            case MsrIndex.SysenterCs:
                if ((model.Leaf1Edx & CpuidModel.Sep) == 0) return false;
                return Store(c, index, value);
            case MsrIndex.SysenterEsp:
            case MsrIndex.SysenterEip:
                // On processors with Intel 64 the addresses must be canonical.
                if ((model.Leaf1Edx & CpuidModel.Sep) == 0 || !IsCanonical(value)) return false;
                return Store(c, index, value);
            case MsrIndex.McgStatus:
                // RIPV, EIPV, MCIP; the rest is reserved (no LMCE).
                if (!HasMca(model) || (value & ~7UL) != 0) return false;
                return Store(c, index, value);
            case MsrIndex.MiscEnable:
            {
                if ((value & ~(MiscEnableWritable | MiscEnableReadOnly)) != 0) return false;
                ulong old = Stored(c, index, MiscEnableDefault);
                return Store(c, index, (old & MiscEnableReadOnly) | (value & MiscEnableWritable));
            }
            case MsrIndex.DebugCtl:
                // No last-branch recording or single-step-on-branches: every bit is reserved here.
                return value == 0 && Store(c, index, 0);
            case MsrIndex.TscDeadline:
                if (c.LocalApic == null) return false;
                c.LocalApic.TscDeadline = value;
                return true;
            case MsrIndex.Efer:
                return ControlRegisters.WriteEfer(c, value) || ClearFault(c);
            case MsrIndex.Star:
                if ((model.Ext1Edx & CpuidModel.LongMode) == 0) return false;
                return Store(c, index, value);
            case MsrIndex.Lstar:
            case MsrIndex.Cstar:
            case MsrIndex.KernelGsBase:
                if ((model.Ext1Edx & CpuidModel.LongMode) == 0 || !IsCanonical(value)) return false;
                return Store(c, index, value);
            case MsrIndex.Sfmask:
                if ((model.Ext1Edx & CpuidModel.LongMode) == 0 || value >> 32 != 0) return false;
                return Store(c, index, value);
            case MsrIndex.FsBase:
            case MsrIndex.GsBase:
            {
                if ((model.Ext1Edx & CpuidModel.LongMode) == 0 || !IsCanonical(value)) return false;
                int segment = index == MsrIndex.FsBase ? (int)SegmentIndex.Fs : (int)SegmentIndex.Gs;
                c.Segments[segment].Base = value;
                c.SegBase[segment] = value;
                return true;
            }
            case MsrIndex.TscAux:
                if ((model.Ext1Edx & CpuidModel.Rdtscp) == 0 || value >> 32 != 0) return false;
                return Store(c, index, value);
            case MsrIndex.Pat:
                if ((model.Leaf1Edx & CpuidModel.Pat) == 0
                    || !MsrMemoryTypes.Valid(index, value, ControlRegisters.PhysicalAddressBits(c))) return false;
                return Store(c, index, value);
            default:
                // PLATFORM_ID, FEATURE_CONTROL (locked), ARCH_CAPABILITIES, MCG_CAP, MTRRcap are read-only.
                if (!MsrMemoryTypes.IsMtrr(index) || (model.Leaf1Edx & CpuidModel.Mtrr) == 0
                    || !MsrMemoryTypes.Valid(index, value, ControlRegisters.PhysicalAddressBits(c))) return false;
                return Store(c, index, value);
        }
    }

    /// <summary>WriteEfer raised the #GP itself; TryWrite reports it as a plain refusal so RDMSR/WRMSR raise it once.</summary>
    private static bool ClearFault(CpuContext c)
    {
        c.Exit = ExitKind.None;
        return false;
    }
}
