using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// Segment register loads with the checks of MOV Sreg / POP Sreg / LDS..LSS (Intel SDM Vol. 2B MOV, Vol. 3, 5.5-5.7).
/// The hidden part is kept as KVM's kvm_segment does; a null selector leaves the register unusable. CPL is
/// SS.DPL (as KVM and VMX define it), so every path that changes CPL loads SS with DPL = CPL.
/// All methods return false with the exception pending when a check fails, and change nothing in that case.
/// </summary>
public static class SegmentLoader
{
    public const int Es = (int)SegmentIndex.Es, Cs = (int)SegmentIndex.Cs, Ss = (int)SegmentIndex.Ss;
    public const int Ds = (int)SegmentIndex.Ds, Fs = (int)SegmentIndex.Fs, Gs = (int)SegmentIndex.Gs;

    /// <summary>Loads DS, ES, FS, GS or SS as MOV Sreg does in the current mode.</summary>
    public static bool Load(CpuContext c, int segment, ushort selector)
    {
        if (c.Mode is CpuMode.Real or CpuMode.Virtual8086)
        {
            LoadReal(c, segment, selector);
            return true;
        }
        return segment == Ss ? LoadStack(c, selector) : LoadData(c, segment, selector);
    }

    /// <summary>Real and virtual-8086 mode: base = selector * 16; limit and attributes stay (Intel SDM Vol. 3, 20.1.1).</summary>
    public static void LoadReal(CpuContext c, int segment, ushort selector)
    {
        ref var s = ref c.Segments[segment];
        s.Selector = selector;
        s.Base = (ulong)selector << 4;
        s.Unusable = false;
        s.Present = true;
        if (segment is Cs or Ss) c.UpdateMode();
        else RefreshBase(c, segment);
    }

    private static bool LoadData(CpuContext c, int segment, ushort selector)
    {
        if (DescriptorTable.IsNull(selector))
        {
            LoadNull(c, segment, selector);
            return true;
        }
        var result = DescriptorTable.Read(c, selector, out var d, out ulong address);
        if (result == LookupResult.MemoryFault) return false;
        uint error = DescriptorTable.ErrorCode(selector);
        if (result == LookupResult.OutsideLimit || !d.IsReadable) return c.Fault(Vectors.GeneralProtection, error);
        if (!d.IsConforming && ((selector & 3) > d.Dpl || c.Cpl > d.Dpl)) return c.Fault(Vectors.GeneralProtection, error);
        if (!d.Present) return c.Fault(Vectors.SegmentNotPresent, error);
        if (!DescriptorTable.SetAccessed(c, address, d)) return false;
        Commit(c, segment, selector, d);
        return true;
    }

    private static bool LoadStack(CpuContext c, ushort selector)
    {
        int cpl = c.Cpl;
        if (DescriptorTable.IsNull(selector))
        {
            // Only 64-bit code below ring 3 may run on a null SS (Intel SDM Vol. 2B MOV, 64-bit mode exceptions).
            if (c.Mode != CpuMode.Long64 || cpl == 3 || (selector & 3) != cpl) return c.Fault(Vectors.GeneralProtection, 0);
            LoadNullStack(c, selector, cpl);
            return true;
        }
        var result = DescriptorTable.Read(c, selector, out var d, out ulong address);
        if (result == LookupResult.MemoryFault) return false;
        uint error = DescriptorTable.ErrorCode(selector);
        if (result == LookupResult.OutsideLimit || (selector & 3) != cpl || !d.IsWritableData || d.Dpl != cpl)
            return c.Fault(Vectors.GeneralProtection, error);
        if (!d.Present) return c.Fault(Vectors.StackFault, error);
        if (!DescriptorTable.SetAccessed(c, address, d)) return false;
        Commit(c, Ss, selector, d);
        return true;
    }

    /// <summary>A null selector in DS/ES/FS/GS: later accesses through it fault; Intel clears the base (unlike AMD).</summary>
    public static void LoadNull(CpuContext c, int segment, ushort selector)
    {
        c.Segments[segment] = new SegmentRegister { Selector = selector, Unusable = true };
        RefreshBase(c, segment);
    }

    /// <summary>SS = null with RPL = CPL, as 64-bit interrupt delivery, SYSCALL-less ring changes and IRETQ leave it.</summary>
    public static void LoadNullStack(CpuContext c, ushort selector, int cpl)
    {
        c.Segments[Ss] = new SegmentRegister
        {
            Selector = selector, Unusable = true, Dpl = (byte)cpl, Type = 3, CodeOrData = true, Present = true,
        };
        c.UpdateMode();
    }

    /// <summary>Puts a checked descriptor into a segment register (accessed bit already set in memory).</summary>
    public static void Commit(CpuContext c, int segment, ushort selector, in Descriptor d)
    {
        var s = d.ToSegment(selector);
        s.Type |= 1;
        c.Segments[segment] = s;
        if (segment is Cs or Ss) c.UpdateMode();
        else RefreshBase(c, segment);
    }

    /// <summary>Loads CS from a checked code descriptor with RPL = the new CPL, and the mode that follows.</summary>
    public static bool CommitCode(CpuContext c, ushort selector, ulong address, in Descriptor d)
    {
        if (!DescriptorTable.SetAccessed(c, address, d)) return false;
        Commit(c, Cs, selector, d);
        return true;
    }

    /// <summary>
    /// The effective base the address arithmetic uses (0 for ES/CS/SS/DS in 64-bit mode); outside 64-bit mode also
    /// the mode key, whose segment-check bits depend on every segment's limit and rights.
    /// </summary>
    public static void RefreshBase(CpuContext c, int segment)
    {
        c.SegBase[segment] = c.Mode == CpuMode.Long64 && segment < Fs ? 0 : c.Segments[segment].Base;
        if (c.Mode != CpuMode.Long64) c.UpdateMode();
    }

    /// <summary>
    /// After a return to an outer privilege level, data segment registers the new CPL may not use are nulled
    /// (Intel SDM Vol. 2A RET, IRET: "FOR each of segment register (ES, FS, GS, and DS)").
    /// </summary>
    public static void NullInaccessibleDataSegments(CpuContext c)
    {
        int cpl = c.Cpl;
        ReadOnlySpan<int> segments = [Es, Ds, Fs, Gs];
        foreach (int i in segments)
        {
            ref var s = ref c.Segments[i];
            if (s.Unusable) continue;
            bool dataOrNonConforming = s.CodeOrData && ((s.Type & 8) == 0 || (s.Type & 4) == 0);
            if (dataOrNonConforming && s.Dpl < cpl)
            {
                // The selector is nulled; in 64-bit mode FS/GS keep their base (it is MSR state), as on hardware.
                ulong keep = s.Base;
                s = new SegmentRegister { Unusable = true, Base = c.Mode == CpuMode.Long64 && i >= Fs ? keep : 0 };
                RefreshBase(c, i);
            }
        }
    }
}
