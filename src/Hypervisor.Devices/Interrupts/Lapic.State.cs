using System.Buffers.Binary;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.Devices.Interrupts;

// Reset, IA32_APIC_BASE and save/restore in the KVM_GET_LAPIC layout (Intel SDM Vol. 3A 11.4.4, 11.4.7).
public sealed partial class Lapic
{
    public const uint Ia32ApicBaseMsr = 0x1B;
    public const ulong DefaultBaseAddress = 0xFEE0_0000;

    private const ulong ApicBaseBsp = 1UL << 8;
    private const ulong ApicBaseX2ApicEnable = 1UL << 10;
    private const ulong ApicBaseEnable = 1UL << 11;
    private const ulong ApicBaseAddressMask = 0x000F_FFFF_FFFF_F000;

    /// <summary>IA32_APIC_BASE as RDMSR returns it.</summary>
    public ulong ApicBase => Volatile.Read(ref _apicBase);

    /// <summary>Where this APIC's register page is decoded (IA32_APIC_BASE bits MAXPHYADDR-1:12).</summary>
    public ulong BaseAddress => ApicBase & ApicBaseAddressMask;

    private bool IsBspLocked => (_apicBase & ApicBaseBsp) != 0;

    /// <summary>
    /// WRMSR IA32_APIC_BASE. Returns false for a value the CPU must answer with #GP: reserved bits, bits above
    /// MAXPHYADDR, or x2APIC enable (x2APIC is not advertised). Clearing EN returns the APIC to its power-up
    /// state (SDM 11.4.3 allows it; it makes a later re-enable start clean), and while EN is clear the APIC
    /// takes no messages and decodes no MMIO.
    /// </summary>
    public bool TryWriteApicBase(ulong value)
    {
        ulong reserved = 0xFFUL | (1UL << 9) | ApicBaseX2ApicEnable | ~((1UL << _physicalAddressBits) - 1);
        if ((value & reserved) != 0) return false;
        lock (_lock)
        {
            bool disabling = (_apicBase & ApicBaseEnable) != 0 && (value & ApicBaseEnable) == 0;
            Volatile.Write(ref _apicBase, value);
            if (disabling)
            {
                ResetRegistersLocked();
                _id = _resetId;
            }
            UpdatePicAcceptance();
            UpdateAttention();
        }
        return true;
    }

    /// <summary>
    /// Power-up or RESET (SDM 11.4.7.1): registers cleared, LVTs masked, SVR 0xFF (software-disabled), the APIC
    /// enabled at 0xFEE00000 with its hardware ID. An AP then waits for INIT-SIPI.
    /// </summary>
    public void PowerOnReset(bool isBootstrapProcessor)
    {
        lock (_lock)
        {
            Volatile.Write(ref _apicBase, DefaultBaseAddress | ApicBaseEnable | (isBootstrapProcessor ? ApicBaseBsp : 0));
            ResetRegistersLocked();
            _id = _resetId;
            _waitingForSipi = !isBootstrapProcessor;
            UpdatePicAcceptance();
            UpdateAttention();
        }
    }

    /// <summary>
    /// Writes the APIC's state into <paramref name="state"/>: the register page in the KVM_GET_LAPIC layout (the
    /// current count as of now, as KVM stores it), IA32_APIC_BASE and IA32_TSC_DEADLINE; a latched NMI or SIPI
    /// and wait-for-SIPI go to <see cref="CpuState.Events"/> and <see cref="CpuState.RunState"/>.
    /// The CPU is expected to have taken a pending INIT at its last instruction boundary.
    /// </summary>
    public void SaveState(CpuState state)
    {
        lock (_lock)
        {
            var page = state.LapicRegisters.AsSpan();
            page.Clear();
            for (int offset = 0; offset < CpuState.LapicPageSize; offset += 16)
            {
                if (offset is LapicOffsets.Eoi or LapicOffsets.Rrd || !IsImplemented(offset)) continue;
                BinaryPrimitives.WriteUInt32LittleEndian(page[offset..], ReadRegisterLocked(offset));
            }
            state.ApicBase = _apicBase;
            state.Msrs[Ia32TscDeadlineMsr] = Mode == TimerMode.TscDeadline ? _tscDeadline : 0;
            if (_nmiPending) state.Events.NmiPending = true;
            state.Events.SipiPending = _sipiPending && _waitingForSipi;
            state.Events.SipiVector = _sipiVector;
            if (_waitingForSipi) state.RunState = RunState.WaitForSipi;
            else if (state.RunState == RunState.WaitForSipi) state.RunState = RunState.Runnable;
        }
    }

    /// <summary>
    /// Loads the state <see cref="SaveState"/> (or the KVM backend) produced. PPR and APR are recomputed; the
    /// timer continues from the saved current count; a pending NMI stays in <see cref="CpuState.Events"/> for
    /// the CPU, while a pending SIPI and wait-for-SIPI come back to the APIC.
    /// </summary>
    public void RestoreState(CpuState state)
    {
        bool wake;
        lock (_lock)
        {
            byte[] page = state.LapicRegisters;
            uint Reg(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(offset));

            Volatile.Write(ref _apicBase, state.ApicBase & ~ApicBaseX2ApicEnable);
            _id = (byte)(Reg(LapicOffsets.Id) >> 24);
            _tpr = Reg(LapicOffsets.Tpr) & 0xFF;
            _ldr = Reg(LapicOffsets.Ldr) & 0xFF00_0000;
            _dfr = Reg(LapicOffsets.Dfr) | 0x0FFF_FFFF;
            _svr = Reg(LapicOffsets.Svr) & SvrWritable;
            for (int i = 0; i < 8; i++)
            {
                SetWord(_isr, i, Reg(LapicOffsets.Isr + 16 * i));
                SetWord(_tmr, i, Reg(LapicOffsets.Tmr + 16 * i));
                SetWord(_irr, i, Reg(LapicOffsets.Irr + 16 * i));
            }
            _esr = Reg(LapicOffsets.Esr);
            _esrPending = 0;
            _icrLow = Reg(LapicOffsets.IcrLow) & IcrLowWritable;
            _icrHigh = Reg(LapicOffsets.IcrHigh) & 0xFF00_0000;
            for (int i = 0; i < _lvt.Length; i++)
                _lvt[i] = Reg(LapicOffsets.LvtTimer + 16 * i) & LvtWritable[i];
            state.Msrs.TryGetValue(Ia32TscDeadlineMsr, out ulong tscDeadline);
            RestoreTimerLocked(Reg(LapicOffsets.InitialCount), Reg(LapicOffsets.DivideConfig),
                Reg(LapicOffsets.CurrentCount), tscDeadline);

            _nmiPending = false;
            _initPending = false;
            _waitingForSipi = state.RunState == RunState.WaitForSipi;
            _sipiPending = _waitingForSipi && state.Events.SipiPending;
            _sipiVector = state.Events.SipiVector;
            UpdatePicAcceptance();
            UpdateAttention();
            wake = _attention;
        }
        if (wake) Wakeup?.Invoke();
    }

    private static bool IsImplemented(int offset) => offset switch
    {
        LapicOffsets.Id or LapicOffsets.Version or LapicOffsets.Tpr or LapicOffsets.Apr or LapicOffsets.Ppr
            or LapicOffsets.Ldr or LapicOffsets.Dfr or LapicOffsets.Svr or LapicOffsets.Esr
            or LapicOffsets.IcrLow or LapicOffsets.IcrHigh or LapicOffsets.InitialCount
            or LapicOffsets.CurrentCount or LapicOffsets.DivideConfig => true,
        >= LapicOffsets.Isr and < LapicOffsets.Esr => true,
        >= LapicOffsets.LvtTimer and <= LapicOffsets.LvtError => true,
        _ => false,
    };

    /// <summary>The register part of power-up and INIT (SDM 11.4.7.1, 11.4.7.3); the caller sets the ID.</summary>
    private void ResetRegistersLocked()
    {
        Array.Clear(_irr);
        Array.Clear(_isr);
        Array.Clear(_tmr);
        _tpr = 0;
        _ldr = 0;
        _dfr = 0xFFFF_FFFF;
        _svr = 0xFF;
        _esr = _esrPending = 0;
        _icrLow = _icrHigh = 0;
        for (int i = 0; i < _lvt.Length; i++) _lvt[i] = LvtMasked;
        // The BSP's LINT0 starts as unmasked ExtINT, the virtual-wire setup firmware makes (MP spec 3.6.2.2);
        // QEMU and KVM reset it the same way, so the PIC reaches the BSP before anything programs the APIC.
        if (IsBspLocked) _lvt[(int)LapicLvt.Lint0] = (uint)ApicDeliveryMode.ExtInt << 8;
        ResetTimerLocked();
        _nmiPending = _initPending = _sipiPending = false;
        _waitingForSipi = false;
        UpdatePicAcceptance();
        UpdateAttention();
    }
}
