using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.State;

public sealed partial class CpuContext
{
    /// <summary>
    /// An NMI handler is running: further NMIs are held until the next IRET (Intel SDM Vol. 3, 6.7.1). Set by
    /// <see cref="System.InterruptDelivery.DeliverNmi"/>, cleared by IRET; the backend reads it before injecting.
    /// </summary>
    public bool NmiBlocked;

    /// <summary>Takes over a backend-neutral state (a deep copy is kept as the cold part).</summary>
    public void Load(CpuState state)
    {
        Architectural = state.Clone();
        for (int i = 0; i < 16; i++) Regs[i] = state.Gprs[i];
        Regs[RegisterFile.ZeroSlot] = 0;
        Rip = state.Rip;
        Rflags = state.Rflags | FlagBits.Reserved1;
        CcOp = 0;
        Segments[(int)SegmentIndex.Es] = state.Es;
        Segments[(int)SegmentIndex.Cs] = state.Cs;
        Segments[(int)SegmentIndex.Ss] = state.Ss;
        Segments[(int)SegmentIndex.Ds] = state.Ds;
        Segments[(int)SegmentIndex.Fs] = state.Fs;
        Segments[(int)SegmentIndex.Gs] = state.Gs;
        Exit = ExitKind.None;
        LoadSseState(state.FxSave);
        LoadX87State(state.FxSave);
        UpdateMode();
        // A loaded state starts at an instruction boundary with no MOV SS inhibit pending.
        DebugArmed = 0;
        PendingDebugDr6 = 0;
        System.DebugBreakpoints.Refresh(this);
        // The PDPTE registers are not part of CpuState: reload them as the processor would on entering this state.
        if (PaePagingActive) LoadPdptes();
    }

    /// <summary>The current state in backend-neutral form (a new object).</summary>
    public CpuState Save()
    {
        var s = Architectural.Clone();
        for (int i = 0; i < 16; i++) s.Gprs[i] = Regs[i];
        s.Rip = Rip;
        s.Rflags = GetRflags();
        s.Es = Segments[(int)SegmentIndex.Es];
        s.Cs = Segments[(int)SegmentIndex.Cs];
        s.Ss = Segments[(int)SegmentIndex.Ss];
        s.Ds = Segments[(int)SegmentIndex.Ds];
        s.Fs = Segments[(int)SegmentIndex.Fs];
        s.Gs = Segments[(int)SegmentIndex.Gs];
        SaveSseState(s.FxSave);
        SaveX87State(s.FxSave);
        return s;
    }

    /// <summary>
    /// Recomputes the mode, default sizes and effective segment bases after CR0, EFER, RFLAGS.VM, CS or SS changed
    /// (Intel SDM Vol. 3, 2.2 and 5.2: in 64-bit mode the bases of ES, CS, SS and DS are treated as 0). CPL is
    /// SS.DPL outside real and virtual-8086 mode, as KVM and VMX define it: CS.DPL differs from CPL in a
    /// conforming code segment, and CS.RPL is stale right after CR0.PE is set.
    /// </summary>
    public void UpdateMode()
    {
        var a = Architectural;
        ref var cs = ref Segments[(int)SegmentIndex.Cs];
        ref var ss = ref Segments[(int)SegmentIndex.Ss];
        bool longActive = (a.Efer & (1 << 10)) != 0;
        if ((a.Cr0 & 1) == 0) Mode = CpuMode.Real;
        else if (longActive) Mode = cs.Long ? CpuMode.Long64 : CpuMode.Compatibility;
        else if ((Rflags & FlagBits.VM) != 0) Mode = CpuMode.Virtual8086;
        else Mode = CpuMode.Protected;

        switch (Mode)
        {
            case CpuMode.Long64:
                CodeBits = 64;
                StackBits = 64;
                Cpl = ss.Dpl;
                break;
            case CpuMode.Real:
            case CpuMode.Virtual8086:
                CodeBits = cs.DefaultBig && Mode == CpuMode.Real ? 32 : 16;
                StackBits = ss.DefaultBig && Mode == CpuMode.Real ? 32 : 16;
                Cpl = Mode == CpuMode.Real ? 0 : 3;
                break;
            default:
                CodeBits = cs.DefaultBig ? 32 : 16;
                StackBits = ss.DefaultBig ? 32 : 16;
                Cpl = ss.Dpl;
                break;
        }
        LinearMask = Mode == CpuMode.Long64 ? ulong.MaxValue : 0xFFFF_FFFF;
        for (int i = 0; i < 6; i++)
            SegBase[i] = Mode == CpuMode.Long64 && i < (int)SegmentIndex.Fs ? 0 : Segments[i].Base;
        // CR0.EM/TS and CR4.OSFXSR decide at decode time whether SSE instructions run, #UD or #NM.
        uint fpu = (uint)(a.Cr0 >> 2 & 3) | (uint)(a.Cr4 >> 9 & 1) << 2;
        ModeKey = (uint)(CodeBits >> 4) | (uint)(StackBits >> 4) << 3 | (uint)Mode << 6 | (uint)Cpl << 9 | fpu << 11
                  | (uint)System.SegmentChecks.ComputeMask(this) << 16;
        TranslationGeneration++;
        SyncTranslationMode();
    }

    /// <summary>Segment registers whose accesses the decoder guards with limit/rights checks (see System.SegmentChecks).</summary>
    public int CheckedSegments => (int)(ModeKey >> 16) & 0x7F;

    /// <summary>Linear address of the next instruction.</summary>
    public ulong CodeLinear => (SegBase[(int)SegmentIndex.Cs] + Rip) & LinearMask;
}

public sealed partial class CpuContext
{
    /// <summary>What CPUID answers on this vCPU.</summary>
    public Instructions.CpuidModel Cpuid { get; set; } = new();

    /// <summary>Guest TSC frequency; the TSC counts host monotonic time at this rate.</summary>
    public ulong TscFrequency { get; set; } = 2_000_000_000;

    /// <summary>Added to the scaled host time (IA32_TSC writes adjust it, P1.4).</summary>
    public long TscOffset;

    /// <summary>
    /// The machine's guest TSC when the backend has one: RDTSC and IA32_TSC then use it, so the LAPIC's
    /// TSC-deadline timer, which compares with the same counter, agrees with what the guest reads.
    /// </summary>
    public global::Hypervisor.Platform.Time.GuestTsc? Tsc;

    public ulong ReadTsc()
    {
        if (Tsc != null) return Tsc.Read();
        long ticks = global::System.Diagnostics.Stopwatch.GetTimestamp();
        var scaled = (UInt128)(ulong)ticks * TscFrequency / (ulong)global::System.Diagnostics.Stopwatch.Frequency;
        return (ulong)scaled + (ulong)TscOffset;
    }

    /// <summary>WRMSR IA32_TSC (Intel SDM Vol. 3B, 18.17): the counter continues from <paramref name="value"/>.</summary>
    public void WriteTsc(ulong value)
    {
        if (Tsc != null)
        {
            Tsc.Write(value);
            return;
        }
        TscOffset = 0;
        TscOffset = (long)(value - ReadTsc());
    }
}

public sealed partial class CpuContext
{
    /// <summary>
    /// IN/INS: through the VM's I/O handler (the IOPL / TSS permission bitmap check comes with P1.4). Without
    /// a handler nothing answers and the bus reads all-ones, as on a PC.
    /// </summary>
    public void PortRead(ushort port, Span<byte> data)
    {
        if ((DebugArmed & System.DebugBreakpoints.ArmedIo) != 0) System.DebugBreakpoints.MatchIo(this, port, data.Length);
        if (Memory.Io != null) Memory.Io.PortRead(port, data);
        else data.Fill(0xFF);
    }

    public void PortWrite(ushort port, ReadOnlySpan<byte> data)
    {
        if ((DebugArmed & System.DebugBreakpoints.ArmedIo) != 0) System.DebugBreakpoints.MatchIo(this, port, data.Length);
        Memory.Io?.PortWrite(port, data);
    }
}
