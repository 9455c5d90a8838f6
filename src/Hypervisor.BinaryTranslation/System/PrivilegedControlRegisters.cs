using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// Loads of CR0, CR3, CR4, CR8 and IA32_EFER with their consistency checks (Intel SDM Vol. 3, 2.5 and 10.8.5;
/// Vol. 2B MOV to CR) and what follows a load: IA-32e mode activation (EFER.LMA), the PAE PDPTE registers, TLB
/// invalidation (Vol. 3, 4.10.4.1) and the mode key. Each returns false with #GP(0) raised and nothing changed.
/// Shared by MOV CR, LMSW, CLTS, WRMSR and the task switch.
/// </summary>
public static class ControlRegisters
{
    public const ulong Cr0Pe = 1UL << 0, Cr0Mp = 1UL << 1, Cr0Em = 1UL << 2, Cr0Ts = 1UL << 3, Cr0Et = 1UL << 4,
        Cr0Ne = 1UL << 5, Cr0Wp = 1UL << 16, Cr0Am = 1UL << 18, Cr0Nw = 1UL << 29, Cr0Cd = 1UL << 30, Cr0Pg = 1UL << 31;

    public const ulong Cr4Vme = 1UL << 0, Cr4Pvi = 1UL << 1, Cr4Tsd = 1UL << 2, Cr4De = 1UL << 3, Cr4Pse = 1UL << 4,
        Cr4Pae = 1UL << 5, Cr4Mce = 1UL << 6, Cr4Pge = 1UL << 7, Cr4Pce = 1UL << 8, Cr4OsFxsr = 1UL << 9,
        Cr4OsXmmExcpt = 1UL << 10, Cr4Smep = 1UL << 20;

    public const ulong EferSce = 1UL << 0, EferLme = 1UL << 8, EferLma = 1UL << 10, EferNxe = 1UL << 11;

    /// <summary>The CR0 bits a processor implements; writes to the other bits of 31:0 are ignored (Vol. 3, 2.5).</summary>
    private const ulong Cr0Defined = Cr0Pe | Cr0Mp | Cr0Em | Cr0Ts | Cr0Et | Cr0Ne | Cr0Wp | Cr0Am | Cr0Nw | Cr0Cd | Cr0Pg;

    /// <summary>Changing these with PAE paging in use (re)loads the PDPTEs (Vol. 3, 4.4.1).</summary>
    private const ulong Cr0PdpteReload = Cr0Cd | Cr0Nw | Cr0Pg;

    private const ulong Cr4PdpteReload = Cr4Pae | Cr4Pge | Cr4Pse | Cr4Smep;

    /// <summary>TSS descriptor types 1 and 3: a 16-bit TSS in TR forbids activating IA-32e mode.</summary>
    private static bool Tss16(CpuContext c) => c.Architectural.Tr.Type is 1 or 3;

    /// <summary>PAE paging is in use: CR0.PG = 1, CR4.PAE = 1, EFER.LMA = 0 (Vol. 3, 4.1.1).</summary>
    private static bool PaePaging(Hypervisor.Platform.Cpu.CpuState a) =>
        (a.Cr0 & Cr0Pg) != 0 && (a.Cr4 & Cr4Pae) != 0 && (a.Efer & EferLma) == 0;

    private static bool LongModeActive(CpuContext c) => (c.Architectural.Efer & EferLma) != 0;

    private static bool Fail(CpuContext c) => c.Fault(Vectors.GeneralProtection, 0);

    /// <summary>
    /// MOV to CR0. Bits 63:32 are reserved (#GP); reserved bits of 31:0 are ignored and ET reads as 1 (P6 and later).
    /// Setting PG with EFER.LME activates IA-32e mode (needs CR4.PAE, CS.L = 0, a 32-bit TSS); clearing PG leaves it,
    /// which 64-bit mode forbids (software leaves from compatibility mode, Vol. 3, 10.8.5.4).
    /// </summary>
    public static bool WriteCr0(CpuContext c, ulong value)
    {
        var a = c.Architectural;
        if (value >> 32 != 0) return Fail(c);
        value = (value & Cr0Defined) | Cr0Et;
        if ((value & Cr0Pg) != 0 && (value & Cr0Pe) == 0) return Fail(c);
        if ((value & Cr0Nw) != 0 && (value & Cr0Cd) == 0) return Fail(c);
        ulong old = a.Cr0;
        ulong efer = a.Efer;
        bool enablePaging = (value & Cr0Pg) != 0 && (old & Cr0Pg) == 0;
        bool disablePaging = (value & Cr0Pg) == 0 && (old & Cr0Pg) != 0;
        if (enablePaging && (efer & EferLme) != 0)
        {
            if ((a.Cr4 & Cr4Pae) == 0 || c.Segments[(int)SegmentIndex.Cs].Long || Tss16(c)) return Fail(c);
            efer |= EferLma;
        }
        if (disablePaging && (efer & EferLma) != 0)
        {
            if (c.Mode == CpuMode.Long64) return Fail(c);
            efer &= ~EferLma;
        }
        bool paePaging = (value & Cr0Pg) != 0 && (a.Cr4 & Cr4Pae) != 0 && (efer & EferLma) == 0;
        if (paePaging && ((old ^ value) & Cr0PdpteReload) != 0 && !c.LoadPdptes()) return Fail(c);

        a.Cr0 = value;
        a.Efer = efer;
        // Vol. 3, 4.10.4.1: a change of PG flushes everything; WP is included because the software TLB caches the
        // write-permission decision, not the entry.
        if (((old ^ value) & (Cr0Pg | Cr0Wp | Cr0Pe)) != 0) c.FlushTlbAll();
        c.UpdateMode();
        return true;
    }

    /// <summary>
    /// MOV to CR3: bits 63:MAXPHYADDR are reserved in IA-32e mode (no PCIDs, so bit 63 as well). Flushes the
    /// non-global translations; with PAE paging loads the PDPTEs first, leaving CR3 unchanged when they are invalid.
    /// </summary>
    public static bool WriteCr3(CpuContext c, ulong value)
    {
        var a = c.Architectural;
        if (LongModeActive(c))
        {
            if ((value >> PhysicalAddressBits(c)) != 0) return Fail(c);
        }
        else
        {
            value = (uint)value;
        }
        ulong old = a.Cr3;
        a.Cr3 = value;
        if (PaePaging(a) && !c.LoadPdptes())
        {
            a.Cr3 = old;
            return Fail(c);
        }
        c.FlushTlb();
        return true;
    }

    /// <summary>
    /// MOV to CR4: a bit the CPUID model does not support is reserved (#GP), PAE cannot be cleared while IA-32e
    /// mode is active. PGE, PAE, PSE and SMEP changes flush every translation, global ones included.
    /// </summary>
    public static bool WriteCr4(CpuContext c, ulong value)
    {
        var a = c.Architectural;
        if ((value & ~c.Cpuid.Cr4Supported) != 0) return Fail(c);
        if (LongModeActive(c) && (value & Cr4Pae) == 0) return Fail(c);
        ulong old = a.Cr4;
        ulong changed = old ^ value;
        bool paePaging = (a.Cr0 & Cr0Pg) != 0 && (value & Cr4Pae) != 0 && !LongModeActive(c);
        if (paePaging && (changed & Cr4PdpteReload) != 0)
        {
            // LoadPdptes reads CR4-independent state (CR3), so the check can precede the commit.
            if (!c.LoadPdptes()) return Fail(c);
        }
        a.Cr4 = value;
        if ((changed & Cr4PdpteReload) != 0) c.FlushTlbAll();
        c.UpdateMode();
        return true;
    }

    /// <summary>CR8 = TPR[7:4] of the local APIC (Vol. 3, 11.8.6.1); bits 63:4 are reserved.</summary>
    public static bool WriteCr8(CpuContext c, ulong value)
    {
        if (value > 0xF) return Fail(c);
        c.Architectural.Cr8 = value;
        if (c.LocalApic != null) c.LocalApic.Cr8 = value;
        return true;
    }

    public static ulong ReadCr8(CpuContext c) => c.LocalApic?.Cr8 ?? c.Architectural.Cr8;

    /// <summary>
    /// WRMSR IA32_EFER: bits the model does not support are reserved; LMA is read-only (the written value is
    /// ignored, as KVM does); LME cannot change while paging is on (Vol. 3, 10.8.5).
    /// </summary>
    public static bool WriteEfer(CpuContext c, ulong value)
    {
        var a = c.Architectural;
        if ((value & ~c.Cpuid.EferSupported) != 0) return Fail(c);
        ulong old = a.Efer;
        if (((old ^ value) & EferLme) != 0 && (a.Cr0 & Cr0Pg) != 0) return Fail(c);
        value = (value & ~EferLma) | (old & EferLma);
        a.Efer = value;
        if (((old ^ value) & EferNxe) != 0) c.FlushTlbAll();
        c.UpdateMode();
        return true;
    }

    public static int PhysicalAddressBits(CpuContext c)
    {
        int bits = (int)(c.Cpuid.Query(0x8000_0008, 0).Eax & 0xFF);
        return bits == 0 ? 36 : bits;
    }
}
