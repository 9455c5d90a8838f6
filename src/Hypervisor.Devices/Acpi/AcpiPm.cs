using Hypervisor.Platform;
using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;
using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Acpi;

/// <summary>
/// ACPI fixed hardware (ACPI 6.5 §4.8): the PM1a event block (PM1_STS, PM1_EN), the PM1a control block
/// (PM1_CNT with SCI_EN and the SLP_TYP/SLP_EN sleep request) and the 24-bit 3.579545 MHz power-management timer.
/// Writing SLP_EN with the S5 sleep type of hv's DSDT powers the machine off. The SCI is a level that follows
/// "an enabled status bit is set" while SCI_EN is on. The FADT writer takes its block addresses from here.
/// </summary>
public sealed class AcpiPm : IBusDevice, IDisposable
{
    /// <summary>Where hv puts the blocks (FADT PM1a_EVT_BLK, PM1a_CNT_BLK, PM_TMR_BLK).</summary>
    public const ushort HvBasePort = PcPlatform.AcpiPmBase;
    public const ushort HvPm1aEventBlock = HvBasePort + Pm1aEventOffset;
    public const ushort HvPm1aControlBlock = HvBasePort + Pm1aControlOffset;
    public const ushort HvPmTimerBlock = HvBasePort + PmTimerOffset;

    public const int Pm1aEventOffset = 0, Pm1aControlOffset = 4, PmTimerOffset = 8;

    /// <summary>FADT PM1_EVT_LEN, PM1_CNT_LEN, PM_TMR_LEN.</summary>
    public const int Pm1EventLength = 4, Pm1ControlLength = 2, PmTimerLength = 4;

    /// <summary>hv's DSDT declares <c>Name (_S5, Package () { 5, 5, 0, 0 })</c>: SLP_TYPa = SLP_TYPb = 5.</summary>
    public const byte S5SleepType = PcPlatform.SleepTypeS5;

    /// <summary>FADT SCI_INT: IRQ 9, as on PIIX4 and QEMU's pc machine.</summary>
    public const int DefaultSciIrq = PcPlatform.SciIrq;

    /// <summary>PM timer input clock (ACPI §4.8.3.3).</summary>
    public const long TimerFrequencyHz = 3_579_545;

    /// <summary>
    /// FADT RESET_REG: I/O port 0xCF9 (the PIIX3 reset control register), RESET_VALUE 0x06 (hard reset). The port
    /// belongs to the PCI host bridge device, which performs the reset; these numbers only keep the FADT and that
    /// device in agreement.
    /// </summary>
    public const ushort ResetRegisterPort = PcPlatform.ResetPort;
    public const byte ResetRegisterValue = PcPlatform.ResetValue;

    // PM1_STS / PM1_EN bits (ACPI §4.8.3.1).
    public const ushort TmrStatus = 1 << 0, BmStatus = 1 << 4, GblStatus = 1 << 5, PwrbtnStatus = 1 << 8,
        SlpbtnStatus = 1 << 9, RtcStatus = 1 << 10, PciexpWakeStatus = 1 << 14, WakStatus = 1 << 15;

    // PM1_CNT bits (ACPI §4.8.3.2.1).
    public const ushort SciEnable = 1 << 0, BmReload = 1 << 1, GblRelease = 1 << 2, SleepEnable = 1 << 13;
    private const int SleepTypeShift = 10;

    private const ushort SciSources = TmrStatus | GblStatus | PwrbtnStatus | SlpbtnStatus | RtcStatus;
    private const ushort EnableBits = TmrStatus | GblStatus | PwrbtnStatus | SlpbtnStatus | RtcStatus | PciexpWakeStatus;
    private const int TimerStatusBit = 23;

    private readonly object _lock = new();
    private readonly IInterruptController _interrupts;
    private readonly IVmControl _vm;
    private readonly VirtualClock _clock;
    private readonly IVirtualTimer _timer;
    private readonly int _sciIrq;

    private ushort _status; // all status bits but TMR_STS, which is derived from the timer
    private long _timerCarryAcknowledged; // bit-23 toggle count when TMR_STS was last cleared
    private ushort _enable;
    private ushort _control;
    private bool _sciLevel;
    private bool _disposed;

    /// <param name="acpiModeAtReset">
    /// SCI_EN at power-on. hv's FADT has no SMI_CMD, which tells the OS the machine is always in ACPI mode, so the
    /// bit starts set (ACPI §4.8.2.5).
    /// </param>
    public AcpiPm(ushort basePort, IInterruptController interrupts, IVmControl vm, VirtualClock clock,
        int sciIrq = DefaultSciIrq, bool acpiModeAtReset = true)
    {
        BasePort = basePort;
        _interrupts = interrupts;
        _vm = vm;
        _clock = clock;
        _sciIrq = sciIrq;
        _timer = clock.CreateTimer(OnTimer);
        if (acpiModeAtReset) _control = SciEnable;
    }

    public ushort BasePort { get; }
    public ushort Pm1aEventBlock => (ushort)(BasePort + Pm1aEventOffset);
    public ushort Pm1aControlBlock => (ushort)(BasePort + Pm1aControlOffset);
    public ushort PmTimerBlock => (ushort)(BasePort + PmTimerOffset);

    public void RegisterPorts(PortIoBus bus)
    {
        bus.Register(Pm1aEventBlock, Pm1EventLength, this, "ACPI PM1a event block");
        bus.Register(Pm1aControlBlock, Pm1ControlLength, this, "ACPI PM1a control block");
        bus.Register(PmTimerBlock, PmTimerLength, this, "ACPI PM timer");
    }

    /// <summary>
    /// A press of the fixed-hardware power button: sets PWRBTN_STS and, when the OS enabled it, raises the SCI,
    /// so an ACPI guest shuts down in an orderly way.
    /// </summary>
    public void PressPowerButton()
    {
        lock (_lock)
        {
            _status |= PwrbtnStatus;
            UpdateSci();
        }
    }

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            for (int i = 0; i < data.Length; i++)
                data[i] = ReadByte((int)(baseAddress - BasePort + offset) + i);
        }
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        bool powerOff = false;
        lock (_lock)
        {
            int start = (int)(baseAddress - BasePort + offset);
            int end = start + data.Length;
            // Registers are written as wholes so that a 16-bit write of PM1_STS or PM1_CNT acts once.
            if (Overlaps(start, end, Pm1aEventOffset, 2))
                WriteStatus(Merge(start, data, Pm1aEventOffset, 0));
            if (Overlaps(start, end, Pm1aEventOffset + 2, 2))
                _enable = (ushort)(Merge(start, data, Pm1aEventOffset + 2, _enable) & EnableBits);
            if (Overlaps(start, end, Pm1aControlOffset, 2))
                powerOff = WriteControl(Merge(start, data, Pm1aControlOffset, _control));
            // PM_TMR is read-only.
            UpdateSci();
        }
        if (powerOff) _vm.RequestStop(new VmStopRequest(VmStopReason.PowerOff, 0, "ACPI S5 (soft off)"));
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _timer.Dispose();
        }
    }

    private long TimerTicks => (long)((Int128)_clock.NowNanoseconds * TimerFrequencyHz / 1_000_000_000);

    private ushort Status
    {
        get
        {
            ushort status = _status;
            if (TimerTicks >> TimerStatusBit != _timerCarryAcknowledged) status |= TmrStatus;
            return status;
        }
    }

    private byte ReadByte(int offset)
    {
        switch (offset)
        {
            case Pm1aEventOffset: return (byte)Status;
            case Pm1aEventOffset + 1: return (byte)(Status >> 8);
            case Pm1aEventOffset + 2: return (byte)_enable;
            case Pm1aEventOffset + 3: return (byte)(_enable >> 8);
            // SLP_EN and GBL_RLS are write-only and read as 0.
            case Pm1aControlOffset: return (byte)(_control & ~GblRelease);
            case Pm1aControlOffset + 1: return (byte)((_control & ~SleepEnable) >> 8);
            case >= PmTimerOffset and < PmTimerOffset + PmTimerLength:
            {
                uint value = (uint)(TimerTicks & 0xFF_FFFF); // 24-bit timer: FADT TMR_VAL_EXT clear
                return (byte)(value >> (8 * (offset - PmTimerOffset)));
            }
            default: return 0xFF;
        }
    }

    /// <summary>Status bits are cleared by writing 1 (ACPI §4.8.3.1.1); writing 0 leaves them.</summary>
    private void WriteStatus(ushort value)
    {
        _status &= (ushort)~value;
        if ((value & TmrStatus) != 0) _timerCarryAcknowledged = TimerTicks >> TimerStatusBit;
    }

    private bool WriteControl(ushort value)
    {
        _control = (ushort)(value & (SciEnable | BmReload | (7 << SleepTypeShift)));
        if ((value & SleepEnable) == 0) return false;
        int sleepType = (value >> SleepTypeShift) & 7;
        // Only S5 is declared in hv's DSDT, so an OS never asks for another state; one that did is ignored.
        return sleepType == S5SleepType;
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            if (_disposed) return;
            UpdateSci();
        }
    }

    /// <summary>SCI follows the enabled status bits; with TMR_EN a timer waits for the next bit-23 toggle.</summary>
    private void UpdateSci()
    {
        ushort status = Status;
        bool level = (_control & SciEnable) != 0 && (status & _enable & SciSources) != 0;
        if (level != _sciLevel)
        {
            _sciLevel = level;
            _interrupts.SetIrq(_sciIrq, level);
        }
        if ((_enable & TmrStatus) != 0 && (status & TmrStatus) == 0)
        {
            long nextToggle = (_timerCarryAcknowledged + 1) << TimerStatusBit;
            _timer.ArmAt((long)(((Int128)nextToggle * 1_000_000_000 + TimerFrequencyHz - 1) / TimerFrequencyHz));
        }
        else
        {
            _timer.Disarm();
        }
    }

    private static bool Overlaps(int start, int end, int register, int length) => start < register + length && register < end;

    /// <summary>The 16-bit register at <paramref name="register"/> with the written bytes laid over its old value.</summary>
    private static ushort Merge(int start, ReadOnlySpan<byte> data, int register, ushort old)
    {
        int value = old;
        for (int i = 0; i < 2; i++)
        {
            int index = register + i - start;
            if (index < 0 || index >= data.Length) continue;
            value = (value & ~(0xFF << (8 * i))) | (data[index] << (8 * i));
        }
        return (ushort)value;
    }
}
