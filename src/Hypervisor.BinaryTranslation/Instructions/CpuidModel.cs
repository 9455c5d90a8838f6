using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>
/// What CPUID reports (Intel SDM Vol. 2A, CPUID): a GenuineIntel family-6 processor with exactly the features this
/// engine implements, so a guest never picks an instruction or a control bit that would fault here. Each vCPU has
/// its own model (APIC ID); every vCPU is its own package with one core and one thread, as the KVM backend reports.
/// </summary>
public sealed class CpuidModel
{
    /// <summary>Leaf 0x40000000 vendor signature, after the convention KVM, Xen and VMware use.</summary>
    public const string HypervisorSignature = "hv-bt-engine";

    public const string Vendor = "GenuineIntel";

    public const uint MaxBasicLeaf = 0x16;
    public const uint MaxHypervisorLeaf = 0x4000_0010;
    public const uint MaxExtendedLeaf = 0x8000_0008;

    /// <summary>MAXPHYADDR (CPUID.80000008H:EAX[7:0]); the page walk and the MTRRs reserve the bits above it.</summary>
    public const int PhysicalAddressBits = 40;

    public const int LinearAddressBits = 48;

    // CPUID.01H:EDX (Table 3-11).
    public const uint Fpu = 1u << 0, De = 1u << 2, Pse = 1u << 3, Tsc = 1u << 4, Msr = 1u << 5, Pae = 1u << 6, Mce = 1u << 7,
        Cx8 = 1u << 8, Apic = 1u << 9, Sep = 1u << 11, Mtrr = 1u << 12, Pge = 1u << 13, Mca = 1u << 14,
        Cmov = 1u << 15, Pat = 1u << 16, Clfsh = 1u << 19, Mmx = 1u << 23, Fxsr = 1u << 24, Sse = 1u << 25,
        Sse2 = 1u << 26;

    // CPUID.01H:ECX (Table 3-10).
    public const uint Cx16 = 1u << 13, TscDeadline = 1u << 24, Hypervisor = 1u << 31;

    // CPUID.80000001H.
    public const uint Syscall = 1u << 11, Nx = 1u << 20, Page1Gb = 1u << 26, Rdtscp = 1u << 27, LongMode = 1u << 29;
    public const uint LahfLm = 1u << 0, Prefetchw = 1u << 8;

    /// <summary>CPUID.(EAX=7,ECX=0):EDX[29]: IA32_ARCH_CAPABILITIES exists.</summary>
    public const uint ArchCapabilitiesBit = 1u << 29;

    /// <summary>CPUID.06H:EAX[2]: the APIC timer runs in every C-state (ARAT).</summary>
    public const uint Arat = 1u << 2;

    /// <summary>CPUID.80000007H:EDX[8]: the TSC runs at a constant rate in every state.</summary>
    public const uint InvariantTsc = 1u << 8;

    /// <summary>
    /// CPUID.01H:EDX. DE: CR4.DE, I/O breakpoints and DR4/DR5 #UD (System/DebugBreakpoints). No VME, PSE-36,
    /// ACPI/TM, SS or HTT. APIC is reported only while the vCPU has an enabled local APIC.
    /// </summary>
    public uint Leaf1Edx { get; set; } =
        Fpu | De | Pse | Tsc | Msr | Pae | Mce | Cx8 | Apic | Sep | Mtrr | Pge | Mca | Cmov | Pat | Clfsh | Mmx | Fxsr | Sse | Sse2;

    /// <summary>CPUID.01H:ECX: CMPXCHG16B, TSC-deadline (with a local APIC), "running under a hypervisor".</summary>
    public uint Leaf1Ecx { get; set; } = Cx16 | TscDeadline | Hypervisor;

    public uint Ext1Edx { get; set; } = Syscall | Nx | Page1Gb | Rdtscp | LongMode;

    public uint Ext1Ecx { get; set; } = LahfLm | Prefetchw;

    /// <summary>Family 6 model 15 stepping 11 (a Core 2 class part: nothing beyond what is listed).</summary>
    public uint Signature { get; set; } = 0x6FB;

    /// <summary>This vCPU's initial APIC ID (CPUID.01H:EBX[31:24], CPUID.0BH:EDX).</summary>
    public uint ApicId { get; set; }

    /// <summary>vCPUs in the machine; each is a package of its own.</summary>
    public int CpuCount { get; set; } = 1;

    /// <summary>The TSC rate (leaves 15H, 16H, 40000010H).</summary>
    public ulong TscFrequency { get; set; } = 2_000_000_000;

    /// <summary>
    /// The core crystal / APIC bus clock (leaf 15H ECX, 40000010H EBX): the LAPIC timer counts at this rate. hv's
    /// LAPIC runs at 1 GHz (Hypervisor.Devices Lapic.Timer, as KVM's APIC_BUS_CYCLE_NS = 1).
    /// </summary>
    public ulong BusFrequency { get; set; } = 1_000_000_000;

    /// <summary>The microcode revision IA32_BIOS_SIGN_ID reports in bits 63:32.</summary>
    public uint MicrocodeRevision { get; set; } = 1;

    /// <summary>
    /// IA32_ARCH_CAPABILITIES: an interpreter does not speculate, so the "not affected" bits are true: RDCL_NO (0),
    /// SSB_NO (4), MDS_NO (5), PSCHANGE_MC_NO (6), TAA_NO (8), SBDR_SSDP_NO (13), FBSDP_NO (14), PSDP_NO (15),
    /// BHI_NO (20), PBRSB_NO (24), GDS_NO (26), RFDS_NO (27). Linux then skips page-table isolation and the buffer
    /// clearing on every return to user mode.
    /// </summary>
    public ulong ArchCapabilities { get; set; } =
        1UL << 0 | 1UL << 4 | 1UL << 5 | 1UL << 6 | 1UL << 8 | 1UL << 13 | 1UL << 14 | 1UL << 15 | 1UL << 20
        | 1UL << 24 | 1UL << 26 | 1UL << 27;

    /// <summary>CR4 bits the model supports (the rest are reserved: MOV CR4 raises #GP).</summary>
    public ulong Cr4Supported
    {
        get
        {
            // TSD and PCE exist on every P6-class processor; the others follow their feature flags.
            ulong mask = 1UL << 2 | 1UL << 8;
            uint edx = Leaf1Edx;
            if ((edx & De) != 0) mask |= 1UL << 3;
            if ((edx & Pse) != 0) mask |= 1UL << 4;
            if ((edx & Pae) != 0) mask |= 1UL << 5;
            if ((edx & Mce) != 0) mask |= 1UL << 6;
            if ((edx & Pge) != 0) mask |= 1UL << 7;
            if ((edx & Fxsr) != 0) mask |= 1UL << 9;
            if ((edx & Sse) != 0) mask |= 1UL << 10;
            return mask;
        }
    }

    /// <summary>EFER bits the model supports: SCE (with SYSCALL), LME/LMA (long mode), NXE (with NX).</summary>
    public ulong EferSupported =>
        ((Ext1Edx & Syscall) != 0 ? 1UL : 0) | ((Ext1Edx & LongMode) != 0 ? 1UL << 8 | 1UL << 10 : 0)
        | ((Ext1Edx & Nx) != 0 ? 1UL << 11 : 0);

    /// <summary>What the CPUID instruction returns on <paramref name="c"/>: the model adjusted by live state.</summary>
    public (uint Eax, uint Ebx, uint Ecx, uint Edx) Query(CpuContext c, uint leaf, uint subleaf)
    {
        // The context's TSC rate is the one RDTSC counts at.
        TscFrequency = c.TscFrequency;
        // IA32_MISC_ENABLE.LIMIT_CPUID (bit 22) caps the basic leaves at 2, for operating systems that predate them.
        bool limit = (c.Architectural.Msrs.GetValueOrDefault(MsrIndex.MiscEnable) & 1UL << 22) != 0;
        uint maxBasic = limit ? 2 : MaxBasicLeaf;
        if (leaf < 0x4000_0000 && leaf > maxBasic) leaf = maxBasic;
        var r = Query(leaf, subleaf);
        if (leaf == 0) r.Eax = maxBasic;
        else if (leaf == 1)
        {
            // CPUID.01H:EDX.APIC follows IA32_APIC_BASE.EN (Intel SDM Vol. 3, 11.4.3); no APIC, no TSC-deadline.
            var apic = c.LocalApic;
            if (apic == null || (apic.ApicBase & 1UL << 11) == 0) r.Edx &= ~Apic;
            if (apic == null) r.Ecx &= ~TscDeadline;
        }
        else if (leaf == 6 && c.LocalApic == null) r.Eax &= ~Arat;
        return r;
    }

    /// <summary>The model's answer for a leaf (Intel's rule for leaves out of range: the highest basic leaf).</summary>
    public (uint Eax, uint Ebx, uint Ecx, uint Edx) Query(uint leaf, uint subleaf)
    {
        if ((leaf > MaxBasicLeaf && leaf < 0x4000_0000) || (leaf > MaxHypervisorLeaf && leaf < 0x8000_0000)
            || leaf > MaxExtendedLeaf)
            leaf = MaxBasicLeaf;
        switch (leaf)
        {
            case 0:
                return (MaxBasicLeaf, Pack(Vendor, 0), Pack(Vendor, 8), Pack(Vendor, 4));
            case 1:
                // EBX: initial APIC ID, 1 logical processor per package, CLFLUSH line 8 * 8 = 64 bytes.
                return (Signature, (ApicId & 0xFF) << 24 | 1u << 16 | 8u << 8, Leaf1Ecx, Leaf1Edx);
            case 2:
                // One iteration (AL = 1), only null descriptors: cache and TLB parameters are not enumerated.
                return (1, 0, 0, 0);
            case 6:
                return (Arat, 0, 0, 0);
            case 7:
                // Subleaf 0: no structured extended features but IA32_ARCH_CAPABILITIES; EAX = 0 (last subleaf).
                return subleaf == 0 ? (0u, 0u, 0u, ArchCapabilitiesBit) : (0u, 0u, 0u, 0u);
            case 0xB:
                // Extended topology: an SMT level and a core level of one logical processor each; EDX = x2APIC ID.
                return subleaf switch
                {
                    0 => (0, 1, 1u << 8, ApicId),
                    1 => (0, 1, 2u << 8 | 1, ApicId),
                    _ => (0, 0, subleaf & 0xFF, ApicId),
                };
            case 0x15:
                return TscLeaf();
            case 0x16:
            {
                uint tscMhz = (uint)Math.Min(TscFrequency / 1_000_000, 0xFFFF);
                return (tscMhz, tscMhz, (uint)Math.Min(BusFrequency / 1_000_000, 0xFFFF), 0);
            }
            case 0x4000_0000:
                return (MaxHypervisorLeaf, Pack(HypervisorSignature, 0), Pack(HypervisorSignature, 4),
                    Pack(HypervisorSignature, 8));
            case 0x4000_0010:
                // The VMware timing leaf: TSC and APIC bus frequency in kHz.
                return ((uint)Math.Min(TscFrequency / 1000, uint.MaxValue), (uint)Math.Min(BusFrequency / 1000, uint.MaxValue), 0, 0);
            case 0x8000_0000:
                return (MaxExtendedLeaf, 0, 0, 0);
            case 0x8000_0001:
                return (0, 0, Ext1Ecx, Ext1Edx);
            case 0x8000_0002:
            case 0x8000_0003:
            case 0x8000_0004:
            {
                const string brand = "hv binary translation CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";
                int at = (int)(leaf - 0x8000_0002) * 16;
                return (Pack(brand, at), Pack(brand, at + 4), Pack(brand, at + 8), Pack(brand, at + 12));
            }
            case 0x8000_0007:
                return (0, 0, 0, InvariantTsc);
            case 0x8000_0008:
                return ((uint)(LinearAddressBits << 8 | PhysicalAddressBits), 0, 0, 0);
            default:
                // Leaves in range that describe absent features (4 caches, 5 MONITOR, 0xA PMU, 0xD XSAVE, ...).
                return (0, 0, 0, 0);
        }
    }

    /// <summary>
    /// Leaf 15H: TSC = crystal * EBX / EAX, crystal in ECX (Hz). Linux computes crystal_khz * EBX in 32 bits, so
    /// the ratio is reduced and left unenumerated (EAX = EBX = 0) when it cannot be stated exactly within that.
    /// </summary>
    private (uint, uint, uint, uint) TscLeaf()
    {
        ulong crystal = BusFrequency, tsc = TscFrequency;
        if (crystal == 0 || crystal > uint.MaxValue || tsc == 0) return (0, 0, 0, 0);
        ulong g = Gcd(tsc, crystal);
        ulong numerator = tsc / g, denominator = crystal / g;
        if (numerator * (crystal / 1000) > uint.MaxValue || denominator > uint.MaxValue) return (0, 0, (uint)crystal, 0);
        return ((uint)denominator, (uint)numerator, (uint)crystal, 0);
    }

    private static ulong Gcd(ulong a, ulong b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    private static uint Pack(string s, int at) =>
        (uint)(s[at] | s[at + 1] << 8 | s[at + 2] << 16 | s[at + 3] << 24);
}
