namespace Hypervisor.Platform.Cpu;

/// <summary>General-purpose register numbers, in the x86 encoding order.</summary>
public enum Gpr
{
    Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8, R9, R10, R11, R12, R13, R14, R15,
}

/// <summary>
/// The complete architectural state of one vCPU, backend-neutral. Both backends get and set it; snapshots,
/// migration and moving a running guest between KVM and BT are built on it, so it must stay complete.
/// </summary>
public sealed class CpuState
{
    public const int FxSaveSize = 512;
    public const int LapicPageSize = 1024;

    /// <summary>RAX..R15 indexed by <see cref="Gpr"/>.</summary>
    public ulong[] Gprs { get; private set; } = new ulong[16];

    public ulong Rip;
    public ulong Rflags = 0x2;

    public SegmentRegister Es, Cs, Ss, Ds, Fs, Gs, Ldtr, Tr;
    public DescriptorTableRegister Gdtr, Idtr;

    public ulong Cr0, Cr2, Cr3, Cr4, Cr8;
    public ulong Efer;
    public ulong Xcr0 = 1;

    /// <summary>DR0-DR3, DR6, DR7.</summary>
    public ulong Dr0, Dr1, Dr2, Dr3, Dr6 = 0xFFFF_0FF0, Dr7 = 0x400;

    /// <summary>IA32_APIC_BASE.</summary>
    public ulong ApicBase = 0xFEE0_0000 | 0x800;

    /// <summary>Every other MSR the backend saves (index -> value): STAR, LSTAR, TSC, PAT, ...</summary>
    public Dictionary<uint, ulong> Msrs { get; private set; } = new();

    /// <summary>x87, MMX and SSE state in the FXSAVE layout (Intel SDM Vol. 1, 10.5.1).</summary>
    public byte[] FxSave { get; private set; } = CreateDefaultFxSave();

    /// <summary>Full XSAVE area when the backend has one (AVX and beyond); null when only FXSAVE state exists.</summary>
    public byte[]? XSave;

    /// <summary>The local APIC's register page (offsets as in the xAPIC MMIO page), 1 KiB as KVM_GET_LAPIC gives it.</summary>
    public byte[] LapicRegisters { get; private set; } = new byte[LapicPageSize];

    public PendingEvents Events;

    /// <summary>The vCPU waits for an interrupt (HLT) or, as an AP, for INIT/SIPI.</summary>
    public RunState RunState = RunState.Runnable;

    public ulong this[Gpr register]
    {
        get => Gprs[(int)register];
        set => Gprs[(int)register] = value;
    }

    public ulong Rax { get => Gprs[0]; set => Gprs[0] = value; }
    public ulong Rcx { get => Gprs[1]; set => Gprs[1] = value; }
    public ulong Rdx { get => Gprs[2]; set => Gprs[2] = value; }
    public ulong Rbx { get => Gprs[3]; set => Gprs[3] = value; }
    public ulong Rsp { get => Gprs[4]; set => Gprs[4] = value; }
    public ulong Rbp { get => Gprs[5]; set => Gprs[5] = value; }
    public ulong Rsi { get => Gprs[6]; set => Gprs[6] = value; }
    public ulong Rdi { get => Gprs[7]; set => Gprs[7] = value; }

    /// <summary>EDX after reset for a caller that models no particular processor: family 6, what firmware expects.</summary>
    public const uint DefaultSignature = 0x600;

    /// <summary>CR0.CD | CR0.NW: the cache-control bits INIT leaves as they are.</summary>
    private const ulong Cr0CacheControl = 0x6000_0000;

    /// <summary>CR0.ET: hardwired to 1.</summary>
    private const ulong Cr0Et = 0x10;

    /// <summary>
    /// The power-on/RESET state (Intel SDM Vol. 3, 10.1.1, Table 10-1): real mode at F000:FFF0, CS base FFFF0000,
    /// EDX <see cref="DefaultSignature"/>.
    /// </summary>
    public static CpuState CreateReset() => CreateReset(DefaultSignature);

    /// <summary>
    /// The power-on/RESET state with EDX = <paramref name="signature"/>, the processor's CPUID leaf 1 EAX (type,
    /// family, model, stepping), which a CPU leaves in EDX after RESET and after INIT alike (SDM Table 10-1).
    /// </summary>
    public static CpuState CreateReset(uint signature)
    {
        var s = new CpuState
        {
            Rip = 0xFFF0,
            Rflags = 0x2,
            Cr0 = 0x6000_0010,
            Es = SegmentRegister.RealMode(0, false),
            Ss = SegmentRegister.RealMode(0, false),
            Ds = SegmentRegister.RealMode(0, false),
            Fs = SegmentRegister.RealMode(0, false),
            Gs = SegmentRegister.RealMode(0, false),
            Cs = SegmentRegister.RealMode(0xF000, true),
            Gdtr = new DescriptorTableRegister { Limit = 0xFFFF },
            Idtr = new DescriptorTableRegister { Limit = 0xFFFF },
            Ldtr = new SegmentRegister { Limit = 0xFFFF, Type = 2, Present = true },
            Tr = new SegmentRegister { Limit = 0xFFFF, Type = 11, Present = true },
        };
        s.Cs.Base = 0xFFFF_0000;
        s.Rdx = signature;
        return s;
    }

    /// <summary>
    /// The state an INIT (the INIT# pin or an INIT IPI) leaves (SDM Vol. 3, 10.1 and Table 10-1): the RESET state
    /// of <see cref="CreateReset(uint)"/> - EDX the signature, real mode at F000:FFF0, CR2-CR4, EFER and DR0-DR3
    /// cleared - except for what INIT keeps of <paramref name="current"/>: CR0.CD/NW, the x87/MMX/SSE state
    /// (FXSAVE and XSAVE images, XCR0), the MSRs (MTRRs, PAT, TSC, SYSENTER/SYSCALL, ...) and IA32_APIC_BASE.
    /// The local APIC's own INIT is its device's business: the APIC page stays empty here (not applied on load).
    /// </summary>
    public static CpuState CreateInit(CpuState current, uint signature)
    {
        var s = CreateReset(signature);
        s.Cr0 = (current.Cr0 & Cr0CacheControl) | Cr0Et;
        current.FxSave.CopyTo(s.FxSave, 0);
        s.XSave = (byte[]?)current.XSave?.Clone();
        s.Xcr0 = current.Xcr0;
        foreach (var (msr, value) in current.Msrs) s.Msrs[msr] = value;
        s.ApicBase = current.ApicBase;
        return s;
    }

    /// <summary>A deep copy: no array or table is shared with the original.</summary>
    public CpuState Clone()
    {
        var copy = (CpuState)MemberwiseClone();
        copy.Gprs = (ulong[])Gprs.Clone();
        copy.Msrs = new Dictionary<uint, ulong>(Msrs);
        copy.FxSave = (byte[])FxSave.Clone();
        copy.LapicRegisters = (byte[])LapicRegisters.Clone();
        copy.XSave = (byte[]?)XSave?.Clone();
        return copy;
    }

    private static byte[] CreateDefaultFxSave()
    {
        var fx = new byte[FxSaveSize];
        // FCW = 0x037F (all x87 exceptions masked, 64-bit precision), MXCSR = 0x1F80, MXCSR_MASK = 0xFFFF.
        fx[0] = 0x7F; fx[1] = 0x03;
        fx[24] = 0x80; fx[25] = 0x1F;
        fx[28] = 0xFF; fx[29] = 0xFF;
        return fx;
    }
}

public enum RunState
{
    Runnable,
    Halted,

    /// <summary>An application processor waiting for INIT + SIPI.</summary>
    WaitForSipi,
}

/// <summary>Events the vCPU has pending at an instruction boundary (kvm_vcpu_events in neutral form).</summary>
public struct PendingEvents
{
    public bool ExceptionPending;
    public byte ExceptionVector;
    public bool ExceptionHasErrorCode;
    public uint ExceptionErrorCode;

    public bool InterruptPending;
    public byte InterruptVector;

    public bool NmiPending;
    public bool NmiMasked;

    /// <summary>STI or MOV SS shadow: interrupts are blocked for one more instruction.</summary>
    public bool InterruptShadow;

    public bool SipiPending;
    public byte SipiVector;
}
