using System.Numerics;
using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Interrupts;

/// <summary>Register offsets in the xAPIC page (Intel SDM Vol. 3A, Table 11-1).</summary>
public static class LapicOffsets
{
    public const int Id = 0x020;
    public const int Version = 0x030;
    public const int Tpr = 0x080;
    public const int Apr = 0x090;
    public const int Ppr = 0x0A0;
    public const int Eoi = 0x0B0;
    public const int Rrd = 0x0C0;
    public const int Ldr = 0x0D0;
    public const int Dfr = 0x0E0;
    public const int Svr = 0x0F0;
    public const int Isr = 0x100;
    public const int Tmr = 0x180;
    public const int Irr = 0x200;
    public const int Esr = 0x280;
    public const int IcrLow = 0x300;
    public const int IcrHigh = 0x310;
    public const int LvtTimer = 0x320;
    public const int LvtThermal = 0x330;
    public const int LvtPerfmon = 0x340;
    public const int LvtLint0 = 0x350;
    public const int LvtLint1 = 0x360;
    public const int LvtError = 0x370;
    public const int InitialCount = 0x380;
    public const int CurrentCount = 0x390;
    public const int DivideConfig = 0x3E0;
}

/// <summary>The local vector table entries, in register order from 0x320.</summary>
public enum LapicLvt
{
    Timer,
    Thermal,
    Perfmon,
    Lint0,
    Lint1,
    Error,
}

/// <summary>
/// One vCPU's local APIC in xAPIC mode (Intel SDM Vol. 3A chapter 11): the register page, interrupt acceptance
/// and priority (this file), the timer (Lapic.Timer.cs), IPIs and destinations (Lapic.Ipi.cs), reset,
/// IA32_APIC_BASE and save/restore (Lapic.State.cs). Every entry point takes one lock, so devices on I/O and
/// timer threads can raise interrupts while the vCPU thread acknowledges them; calls into the
/// <see cref="IApicBus"/> and <see cref="Wakeup"/> happen after the lock is released.
/// </summary>
public sealed partial class Lapic : IBusDevice, ILocalApic, IDisposable
{
    public const ulong PageSize = 0x1000;

    /// <summary>
    /// Version 0x14 (an integrated xAPIC), max LVT entry 5 (timer, thermal, perfmon, LINT0, LINT1, error; no
    /// CMCI), bit 24 clear: EOI-broadcast suppression is not offered, so every level EOI reaches the IOAPIC.
    /// KVM reports the same value, so a guest moved between the backends reads no difference.
    /// </summary>
    public const uint VersionValue = 0x0005_0014;

    private const uint LvtMasked = 1u << 16;
    private const uint SvrSoftwareEnable = 1u << 8;
    private const uint SvrFocusCheckingDisabled = 1u << 9;
    private const uint SvrWritable = 0x3FF;

    // ESR bits (SDM 11.5.3).
    private const uint EsrSendIllegalVector = 1u << 5;
    private const uint EsrReceiveIllegalVector = 1u << 6;
    private const uint EsrIllegalRegisterAddress = 1u << 7;

    private static readonly uint[] LvtWritable =
    [
        0x000700FF, // timer: vector, mask, mode bits 18:17 (one-shot, periodic, TSC-deadline)
        0x000107FF, // thermal: vector, delivery mode, mask
        0x000107FF, // perfmon
        0x0001A7FF, // LINT0: vector, delivery mode, polarity, trigger mode, mask (remote IRR is read-only)
        0x0001A7FF, // LINT1
        0x000100FF, // error: vector, mask
    ];

    private readonly object _lock = new();
    private readonly IApicBus _bus;
    private readonly byte _resetId;
    private readonly int _physicalAddressBits;

    private readonly ulong[] _irr = new ulong[4];
    private readonly ulong[] _isr = new ulong[4];
    private readonly ulong[] _tmr = new ulong[4];
    private readonly uint[] _lvt = new uint[6];

    private byte _id;
    private ulong _apicBase;
    private uint _tpr, _ldr, _dfr, _svr;
    private uint _esr, _esrPending;
    private uint _icrLow, _icrHigh;
    private bool _nmiPending, _initPending, _sipiPending, _waitingForSipi;
    private byte _sipiVector;

    // Lock-free hints for the vCPU's per-block interrupt check: false means "certainly nothing here".
    private volatile bool _attention;
    private volatile bool _acceptsPic;

    /// <param name="apicId">The APIC ID after power-up (the MADT's and MP table's ID for this CPU).</param>
    /// <param name="isBootstrapProcessor">IA32_APIC_BASE.BSP: this CPU runs after reset, the others wait for SIPI.</param>
    /// <param name="physicalAddressBits">MAXPHYADDR as CPUID reports it: APIC_BASE bits above it are reserved.</param>
    public Lapic(byte apicId, bool isBootstrapProcessor, VirtualClock clock, GuestTsc tsc, IApicBus bus,
        int physicalAddressBits = 40)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(physicalAddressBits, 32);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(physicalAddressBits, 52);
        _resetId = apicId;
        _physicalAddressBits = physicalAddressBits;
        _bus = bus;
        _clock = clock;
        _tsc = tsc;
        _timer = clock.CreateTimer(OnTimerExpired);
        PowerOnReset(isBootstrapProcessor);
    }

    /// <summary>
    /// Raised (outside the lock, on whatever thread caused it) when something became pending for the CPU: an
    /// IRR bit, NMI, INIT or SIPI. A vCPU halted in HLT waits for it.
    /// </summary>
    public event Action? Wakeup;

    public byte Id
    {
        get
        {
            lock (_lock) return _id;
        }
    }

    /// <summary>IA32_APIC_BASE.EN: with it clear the CPU behaves as one without an APIC (SDM 11.4.3).</summary>
    public bool IsHardwareEnabled => (Volatile.Read(ref _apicBase) & ApicBaseEnable) != 0;

    /// <summary>SVR bit 8 (SDM 11.4.7.2).</summary>
    public bool IsSoftwareEnabled
    {
        get
        {
            lock (_lock) return (_svr & SvrSoftwareEnable) != 0;
        }
    }

    /// <summary>TPR (0x80).</summary>
    public byte TaskPriority
    {
        get
        {
            lock (_lock) return (byte)_tpr;
        }
    }

    /// <summary>CR8 is TPR[7:4] (SDM 10.8.6.1): reading it shifts, writing it clears TPR[3:0].</summary>
    public ulong Cr8
    {
        get
        {
            lock (_lock) return _tpr >> 4;
        }
        set
        {
            lock (_lock)
            {
                _tpr = (uint)(value & 0xF) << 4;
                UpdateAttention();
            }
        }
    }

    public byte ProcessorPriority
    {
        get
        {
            lock (_lock) return (byte)ComputePpr();
        }
    }

    public byte ArbitrationPriority
    {
        get
        {
            lock (_lock) return (byte)ComputeApr();
        }
    }

    /// <summary>True when the PIC's INTR reaches this CPU: APIC globally disabled, or LINT0 unmasked ExtINT.</summary>
    public bool AcceptsPicInterrupt => _acceptsPic;

    /// <summary>An IRR vector whose priority class is above PPR's (SDM 11.8.3.1): INTR to the CPU.</summary>
    public bool HasDeliverableInterrupt
    {
        get
        {
            if (!_attention) return false;
            lock (_lock) return DeliverableVector() >= 0;
        }
    }

    /// <summary>NMI, INIT or SIPI waiting for the CPU (these end HLT whatever RFLAGS.IF says).</summary>
    public bool HasPendingSpecialEvent
    {
        get
        {
            if (!_attention) return false;
            lock (_lock) return _nmiPending || _initPending || (_sipiPending && _waitingForSipi);
        }
    }

    /// <summary>
    /// The CPU's interrupt acknowledge (SDM 11.8.4): moves the highest deliverable IRR bit to ISR and returns
    /// its vector; when nothing is deliverable any more (the request went away or TPR rose since the CPU looked)
    /// the APIC answers with the spurious vector and sets no ISR bit (SDM 11.9).
    /// </summary>
    public int Acknowledge()
    {
        lock (_lock)
        {
            int vector = DeliverableVector();
            if (vector < 0) return (int)(_svr & 0xFF);
            ClearBit(_irr, vector);
            SetBit(_isr, vector);
            UpdateAttention();
            return vector;
        }
    }

    /// <summary>
    /// Accepts a message from the APIC bus (SDM 11.6, 11.8). Fixed and lowest-priority messages set IRR (and
    /// TMR for level) unless the APIC is software-disabled; NMI, INIT and SIPI are latched for the CPU.
    /// Returns whether the message was taken, which is what sets an IOAPIC entry's remote IRR.
    /// </summary>
    public bool AcceptMessage(in ApicMessage message)
    {
        bool accepted;
        lock (_lock)
        {
            accepted = AcceptLocked(message);
            UpdateAttention();
        }
        if (accepted) Wakeup?.Invoke();
        return accepted;
    }

    /// <summary>Reads the 32-bit register at <paramref name="offset"/> (a multiple of 16 below 0x1000).</summary>
    public uint ReadRegister(int offset)
    {
        lock (_lock) return ReadRegisterLocked(offset);
    }

    /// <summary>Writes the 32-bit register at <paramref name="offset"/>, with all its side effects.</summary>
    public void WriteRegister(int offset, uint value)
    {
        ApicMessage? ipi = null;
        int eoiVector = -1;
        bool wake;
        lock (_lock)
        {
            bool attentionBefore = _attention;
            switch (offset)
            {
                case LapicOffsets.Id: _id = (byte)(value >> 24); break;
                case LapicOffsets.Tpr: _tpr = value & 0xFF; break;
                case LapicOffsets.Eoi: eoiVector = EndOfInterruptLocked(); break;
                case LapicOffsets.Ldr: _ldr = value & 0xFF00_0000; break;
                case LapicOffsets.Dfr: _dfr = value | 0x0FFF_FFFF; break; // bits 27:0 are reserved, read as ones
                case LapicOffsets.Svr: WriteSvrLocked(value); break;
                case LapicOffsets.Esr:
                    // SDM 11.5.3: the write publishes the errors logged since the previous write and clears them.
                    _esr = _esrPending;
                    _esrPending = 0;
                    break;
                case LapicOffsets.IcrLow: ipi = WriteIcrLowLocked(value); break;
                case LapicOffsets.IcrHigh: _icrHigh = value & 0xFF00_0000; break;
                case >= LapicOffsets.LvtTimer and <= LapicOffsets.LvtError when (offset & 0xF) == 0:
                    WriteLvtLocked((LapicLvt)((offset - LapicOffsets.LvtTimer) >> 4), value);
                    break;
                case LapicOffsets.InitialCount: WriteInitialCountLocked(value); break;
                case LapicOffsets.DivideConfig: WriteDivideConfigLocked(value); break;
                case LapicOffsets.Version or LapicOffsets.Apr or LapicOffsets.Ppr or LapicOffsets.Rrd
                    or LapicOffsets.CurrentCount:
                case >= LapicOffsets.Isr and < LapicOffsets.Esr when (offset & 0xF) == 0:
                    break; // read-only
                default:
                    LogErrorLocked(EsrIllegalRegisterAddress);
                    break;
            }
            UpdateAttention();
            wake = _attention && !attentionBefore;
        }
        if (eoiVector >= 0) _bus.BroadcastEoi((byte)eoiVector);
        if (ipi is { } message) _bus.Deliver(message, this);
        if (wake) Wakeup?.Invoke();
    }

    /// <summary>MMIO read at <paramref name="offset"/> in the APIC page; narrow reads take bytes of the register.</summary>
    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        uint value = offset < PageSize ? ReadRegister((int)(offset & 0xFF0)) : 0;
        int first = (int)(offset & 0xF);
        for (int i = 0; i < data.Length; i++)
            data[i] = first + i < 4 ? (byte)(value >> (8 * (first + i))) : (byte)0;
    }

    /// <summary>
    /// MMIO write. SDM 11.4.1 requires aligned 32-bit stores; anything else is dropped, as KVM drops it, rather
    /// than half-updating a register.
    /// </summary>
    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length != 4 || (offset & 0xF) != 0 || offset >= PageSize) return;
        WriteRegister((int)offset, BusData.ToUInt32(data));
    }

    /// <summary>
    /// A read by the CPU that owns this APIC at guest-physical <paramref name="address"/>: false (nothing done)
    /// unless the APIC is enabled and the address is in its page, so the caller falls back to the MMIO bus.
    /// </summary>
    public bool TryRead(ulong address, Span<byte> data)
    {
        if (!TryPageOffset(address, out ulong offset)) return false;
        Read(address - offset, offset, data);
        return true;
    }

    /// <summary>The write counterpart of <see cref="TryRead"/>.</summary>
    public bool TryWrite(ulong address, ReadOnlySpan<byte> data)
    {
        if (!TryPageOffset(address, out ulong offset)) return false;
        Write(address - offset, offset, data);
        return true;
    }

    public void Dispose() => _timer.Dispose();

    private bool TryPageOffset(ulong address, out ulong offset)
    {
        ulong apicBase = Volatile.Read(ref _apicBase);
        ulong page = apicBase & ApicBaseAddressMask;
        offset = address - page;
        return (apicBase & ApicBaseEnable) != 0 && address >= page && offset < PageSize;
    }

    private uint ReadRegisterLocked(int offset)
    {
        switch (offset)
        {
            case LapicOffsets.Id: return (uint)_id << 24;
            case LapicOffsets.Version: return VersionValue;
            case LapicOffsets.Tpr: return _tpr;
            case LapicOffsets.Apr: return ComputeApr();
            case LapicOffsets.Ppr: return ComputePpr();
            case LapicOffsets.Eoi: return 0; // write-only
            case LapicOffsets.Rrd: return 0; // remote read is not supported past the P6 (SDM 11.4.1)
            case LapicOffsets.Ldr: return _ldr;
            case LapicOffsets.Dfr: return _dfr;
            case LapicOffsets.Svr: return _svr;
            case >= LapicOffsets.Isr and < LapicOffsets.Tmr when (offset & 0xF) == 0:
                return Word(_isr, (offset - LapicOffsets.Isr) >> 4);
            case >= LapicOffsets.Tmr and < LapicOffsets.Irr when (offset & 0xF) == 0:
                return Word(_tmr, (offset - LapicOffsets.Tmr) >> 4);
            case >= LapicOffsets.Irr and < LapicOffsets.Esr when (offset & 0xF) == 0:
                return Word(_irr, (offset - LapicOffsets.Irr) >> 4);
            case LapicOffsets.Esr: return _esr;
            // Delivery status (bit 12) is always idle: messages reach their targets inside the ICR write.
            case LapicOffsets.IcrLow: return _icrLow;
            case LapicOffsets.IcrHigh: return _icrHigh;
            case >= LapicOffsets.LvtTimer and <= LapicOffsets.LvtError when (offset & 0xF) == 0:
                return _lvt[(offset - LapicOffsets.LvtTimer) >> 4];
            case LapicOffsets.InitialCount: return _initialCount;
            case LapicOffsets.CurrentCount: return CurrentCountLocked(_clock.NowNanoseconds);
            case LapicOffsets.DivideConfig: return _divideConfig;
            default:
                LogErrorLocked(EsrIllegalRegisterAddress);
                return 0;
        }
    }

    private bool AcceptLocked(in ApicMessage message)
    {
        if ((_apicBase & ApicBaseEnable) == 0) return false;
        switch (message.DeliveryMode)
        {
            case ApicDeliveryMode.Fixed:
            case ApicDeliveryMode.LowestPriority:
                // SDM 11.4.7.2: a software-disabled APIC still answers INIT, NMI, SMI and SIPI, but not fixed
                // interrupts (KVM discards them the same way).
                if ((_svr & SvrSoftwareEnable) == 0) return false;
                return RequestLocked(message.Vector, message.LevelTriggered);
            case ApicDeliveryMode.Nmi:
                _nmiPending = true;
                return true;
            case ApicDeliveryMode.Init:
                // The INIT level de-assert message only resynchronised P6 arbitration IDs (SDM 11.6.1).
                if (!message.Assert) return false;
                _initPending = true;
                return true;
            case ApicDeliveryMode.StartUp:
                // SDM 8.4.4.1: only a processor in wait-for-SIPI state responds; later SIPIs are ignored.
                if (!_waitingForSipi && !_initPending) return false;
                _sipiPending = true;
                _sipiVector = message.Vector;
                return true;
            default:
                // SMI: there is no SMM. ExtINT: the PIC reaches the CPU only through LINT0 (virtual wire), as in
                // KVM; nothing on this board sends an ExtINT message.
                return false;
        }
    }

    /// <summary>Sets IRR (and TMR for level) for a fixed interrupt; vectors 0-15 are illegal (SDM 11.5.2).</summary>
    private bool RequestLocked(int vector, bool levelTriggered)
    {
        if (vector < 16)
        {
            LogErrorLocked(EsrReceiveIllegalVector);
            return false;
        }
        SetBit(_irr, vector);
        if (levelTriggered) SetBit(_tmr, vector);
        else ClearBit(_tmr, vector);
        return true;
    }

    /// <summary>Delivers a local interrupt through its LVT entry (SDM 11.5.1); false if masked or not for the CPU.</summary>
    private bool RaiseLocalLocked(LapicLvt source)
    {
        uint lvt = _lvt[(int)source];
        if ((lvt & LvtMasked) != 0 || (_apicBase & ApicBaseEnable) == 0) return false;
        // The timer and error entries have no delivery-mode field: they are always fixed.
        var mode = source is LapicLvt.Timer or LapicLvt.Error
            ? ApicDeliveryMode.Fixed
            : (ApicDeliveryMode)((lvt >> 8) & 7);
        switch (mode)
        {
            case ApicDeliveryMode.Fixed:
                bool level = source is LapicLvt.Lint0 or LapicLvt.Lint1 && (lvt & 0x8000) != 0;
                return RequestLocked((int)(lvt & 0xFF), level);
            case ApicDeliveryMode.Nmi:
                _nmiPending = true;
                return true;
            case ApicDeliveryMode.Init:
                _initPending = true;
                return true;
            default:
                return false;
        }
    }

    /// <summary>Logs errors and raises the error LVT (SDM 11.5.3); an illegal error vector only logs.</summary>
    private void LogErrorLocked(uint errors)
    {
        _esrPending |= errors;
        uint lvt = _lvt[(int)LapicLvt.Error];
        if ((lvt & LvtMasked) != 0 || (_apicBase & ApicBaseEnable) == 0) return;
        int vector = (int)(lvt & 0xFF);
        if (vector < 16) _esrPending |= EsrReceiveIllegalVector;
        else SetBit(_irr, vector);
    }

    /// <summary>EOI (SDM 11.8.5): retires the highest ISR bit; returns its vector if it was level-triggered.</summary>
    private int EndOfInterruptLocked()
    {
        int vector = Highest(_isr);
        if (vector < 0) return -1;
        ClearBit(_isr, vector);
        return TestBit(_tmr, vector) ? vector : -1;
    }

    private void WriteSvrLocked(uint value)
    {
        _svr = value & SvrWritable;
        // SDM 11.4.7.2: while software-disabled every LVT mask bit is set and stays set; re-enabling leaves
        // them masked until software rewrites the entries.
        if ((_svr & SvrSoftwareEnable) == 0)
            for (int i = 0; i < _lvt.Length; i++) _lvt[i] |= LvtMasked;
        UpdatePicAcceptance();
    }

    private void WriteLvtLocked(LapicLvt entry, uint value)
    {
        value &= LvtWritable[(int)entry];
        if ((_svr & SvrSoftwareEnable) == 0) value |= LvtMasked;
        if (entry == LapicLvt.Timer) WriteLvtTimerLocked(value);
        else _lvt[(int)entry] = value;
        UpdatePicAcceptance();
    }

    /// <summary>PPR (SDM 11.8.3.1): TPR, or the class of the highest in-service vector if that is higher.</summary>
    private uint ComputePpr()
    {
        uint isrv = (uint)Math.Max(0, Highest(_isr));
        return (_tpr & 0xF0) >= (isrv & 0xF0) ? _tpr : isrv & 0xF0;
    }

    /// <summary>APR (SDM 11.6.2.4), what lowest-priority arbitration compares.</summary>
    private uint ComputeApr()
    {
        uint isrv = (uint)Math.Max(0, Highest(_isr));
        uint irrv = (uint)Math.Max(0, Highest(_irr));
        if ((_tpr & 0xF0) >= (irrv & 0xF0) && (_tpr & 0xF0) > (isrv & 0xF0)) return _tpr;
        return Math.Max(_tpr & 0xF0, Math.Max(isrv & 0xF0, irrv & 0xF0));
    }

    private int DeliverableVector()
    {
        int vector = Highest(_irr);
        return vector >= 0 && (vector & 0xF0) > (ComputePpr() & 0xF0) ? vector : -1;
    }

    private void UpdateAttention() =>
        _attention = _nmiPending || _initPending || _sipiPending || (_irr[0] | _irr[1] | _irr[2] | _irr[3]) != 0;

    /// <summary>
    /// SDM 11.4.3: with IA32_APIC_BASE.EN clear the CPU has no APIC and its LINT0 pin is the INTR input; otherwise
    /// the PIC's INTR passes only through an unmasked LINT0 programmed for ExtINT (virtual wire, MP spec 3.6.2.2).
    /// </summary>
    private void UpdatePicAcceptance()
    {
        uint lint0 = _lvt[(int)LapicLvt.Lint0];
        _acceptsPic = (_apicBase & ApicBaseEnable) == 0
            || ((lint0 & LvtMasked) == 0 && ((lint0 >> 8) & 7) == (uint)ApicDeliveryMode.ExtInt);
    }

    private static int Highest(ulong[] bits)
    {
        for (int i = 3; i >= 0; i--)
            if (bits[i] != 0) return i * 64 + 63 - BitOperations.LeadingZeroCount(bits[i]);
        return -1;
    }

    private static bool TestBit(ulong[] bits, int vector) => (bits[vector >> 6] & (1UL << (vector & 63))) != 0;

    private static void SetBit(ulong[] bits, int vector) => bits[vector >> 6] |= 1UL << (vector & 63);

    private static void ClearBit(ulong[] bits, int vector) => bits[vector >> 6] &= ~(1UL << (vector & 63));

    /// <summary>The 32-bit register <paramref name="index"/> (0-7) of a 256-bit ISR/TMR/IRR.</summary>
    private static uint Word(ulong[] bits, int index) => (uint)(bits[index >> 1] >> (32 * (index & 1)));

    private static void SetWord(ulong[] bits, int index, uint value)
    {
        int shift = 32 * (index & 1);
        bits[index >> 1] = (bits[index >> 1] & ~(0xFFFF_FFFFUL << shift)) | ((ulong)value << shift);
    }
}
