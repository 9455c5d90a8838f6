using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// Motorola MC146818A real-time clock with its 128 bytes of CMOS RAM, at index port 0x70 and data port 0x71,
/// interrupting on IRQ8. Time starts from the host's UTC time and advances with the virtual clock; periodic,
/// alarm and update-ended interrupts are computed from elapsed time, with a timer armed only while an enabled
/// interrupt can still change the IRQ line. The daylight-saving bit (register B DSE) is stored but, as in
/// QEMU, no DST switching is done: modern guests keep UTC in the RTC.
/// </summary>
public sealed class CmosRtc : IBusDevice, IDisposable
{
    public const ushort IndexPort = 0x70;
    public const ushort DataPort = 0x71;
    public const int Irq = 8;

    // Register indexes (datasheet "Address map") and the IBM PC conventions used by BIOSes and OSes.
    public const int Seconds = 0x00, SecondsAlarm = 0x01, Minutes = 0x02, MinutesAlarm = 0x03, Hours = 0x04,
        HoursAlarm = 0x05, DayOfWeek = 0x06, DayOfMonth = 0x07, Month = 0x08, Year = 0x09;
    public const int RegisterA = 0x0A, RegisterB = 0x0B, RegisterC = 0x0C, RegisterD = 0x0D;
    public const int Century = 0x32;

    private const byte AUip = 0x80;
    private const byte BSet = 0x80, BPie = 0x40, BAie = 0x20, BUie = 0x10, BBinary = 0x04, B24Hour = 0x02;
    private const byte CIrqf = 0x80, CPf = 0x40, CAf = 0x20, CUf = 0x10;
    private const byte DVrt = 0x80;

    private const long NanosecondsPerSecond = 1_000_000_000;

    /// <summary>UIP rises 244 µs (8 cycles of 32.768 kHz) before each update (datasheet "Update cycle").</summary>
    private const long UipLeadNanoseconds = NanosecondsPerSecond * 8 / 32768;

    private readonly object _lock = new();
    private readonly IInterruptController _interrupts;
    private readonly VirtualClock _clock;
    private readonly IVirtualTimer _timer;
    private readonly byte[] _cmos = new byte[128];

    private int _index;
    private bool _nmiDisabled;

    // Timekeeping: while running, guest time in ns since the Unix epoch = _guestBase + (now - _clockBase).
    private long _guestBase, _clockBase;
    private bool _running;
    private long _frozenGuest; // guest time while stopped (SET or divider in reset)
    private long _dividerOrigin; // clock time of a divider-chain second boundary (periodic interrupt phase)
    private int _dayOfWeekSkew; // guest-written day of week minus the calendar's, as the chip just counts it

    private byte _flags; // register C bits 4-6
    private long _lastFlagCheck; // clock time up to which flags have been accounted
    private long _lastGuestSecondChecked;
    private bool _irqLevel;
    private bool _disposed;

    public CmosRtc(IInterruptController interrupts, VirtualClock clock, DateTimeOffset? startTime = null)
    {
        _interrupts = interrupts;
        _clock = clock;
        _timer = clock.CreateTimer(OnTimer);
        long now = clock.NowNanoseconds;
        long start = ((startTime ?? DateTimeOffset.UtcNow).UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
        _guestBase = start;
        _clockBase = now;
        _running = true;
        _dividerOrigin = now - start % NanosecondsPerSecond;
        _lastFlagCheck = now;
        _lastGuestSecondChecked = FloorDiv(start, NanosecondsPerSecond);
        _cmos[RegisterA] = 0x26; // 32.768 kHz time base, 1024 Hz periodic rate: the PC BIOS setting
        _cmos[RegisterB] = B24Hour;
        RefreshTimeRegisters(start);
    }

    /// <summary>False while the guest has set bit 7 of the index port (the PC's NMI mask).</summary>
    public bool NmiEnabled
    {
        get
        {
            lock (_lock) return !_nmiDisabled;
        }
    }

    /// <summary>Guest wall-clock time now, as the RTC keeps it.</summary>
    public DateTimeOffset GuestTime
    {
        get
        {
            lock (_lock) return DateTimeOffset.UnixEpoch.AddTicks(GuestNow(_clock.NowNanoseconds) / 100);
        }
    }

    public void RegisterPorts(PortIoBus bus) => bus.Register(IndexPort, 2, this, "MC146818 RTC/CMOS");

    /// <summary>Reads a CMOS byte as the host sets it up (no side effects on register C).</summary>
    public byte GetByte(int index)
    {
        lock (_lock) return _cmos[index & 0x7F];
    }

    /// <summary>Sets a CMOS RAM byte for the firmware (boot order, equipment byte...), keeping the checksum valid.</summary>
    public void SetByte(int index, byte value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(index, 0x0E);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 0x7F);
        lock (_lock)
        {
            _cmos[index] = value;
            UpdateChecksum();
        }
    }

    /// <summary>
    /// Fills the memory-size bytes the PC BIOS and OSes read, the way QEMU's pc_cmos_init does: 0x15/0x16 base
    /// memory in KiB (at most 640), 0x17/0x18 and 0x30/0x31 KiB above 1 MiB (at most 65535), 0x34/0x35 64 KiB
    /// units above 16 MiB up to the PCI hole, 0x5B-0x5D 64 KiB units above 4 GiB; then the checksum.
    /// </summary>
    public void SetMemorySizes(ulong belowFourGiB, ulong aboveFourGiB)
    {
        lock (_lock)
        {
            ulong baseKiB = Math.Min(belowFourGiB / 1024, 640);
            Store16(0x15, baseKiB);
            ulong extendedKiB = belowFourGiB > 0x10_0000 ? Math.Min((belowFourGiB - 0x10_0000) / 1024, 0xFFFF) : 0;
            Store16(0x17, extendedKiB);
            Store16(0x30, extendedKiB);
            ulong above16M = belowFourGiB > 0x100_0000 ? Math.Min((belowFourGiB - 0x100_0000) / 0x1_0000, 0xFFFF) : 0;
            Store16(0x34, above16M);
            ulong above4G = Math.Min(aboveFourGiB / 0x1_0000, 0xFF_FFFF);
            _cmos[0x5B] = (byte)above4G;
            _cmos[0x5C] = (byte)(above4G >> 8);
            _cmos[0x5D] = (byte)(above4G >> 16);
            UpdateChecksum();
        }
    }

    /// <summary>Number of CPUs minus one at 0x5F, where SeaBIOS and Bochs BIOS look for it.</summary>
    public void SetCpuCount(int cpus)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cpus, 1);
        lock (_lock) _cmos[0x5F] = (byte)(cpus - 1);
    }

    /// <summary>
    /// The RESET pin, which the PC wires to system reset: PIE, AIE, UIE and SQWE and all of register C are cleared;
    /// time, alarm and RAM are battery-backed and stay (datasheet "RESET").
    /// </summary>
    public void Reset()
    {
        lock (_lock)
        {
            long now = _clock.NowNanoseconds;
            AccountFlags(now);
            _cmos[RegisterB] &= unchecked((byte)~(BPie | BAie | BUie | 0x08));
            _flags = 0;
            UpdateIrqAndSchedule(now);
        }
    }

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            for (int i = 0; i < data.Length; i++)
            {
                ulong port = offset + (ulong)i;
                // The index register is write-only on PC chipsets.
                data[i] = port == 1 ? ReadRegister(_index) : (byte)0xFF;
            }
        }
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            for (int i = 0; i < data.Length && offset + (ulong)i < 2; i++)
            {
                if (offset + (ulong)i == 0)
                {
                    _index = data[i] & 0x7F;
                    _nmiDisabled = (data[i] & 0x80) != 0;
                }
                else
                {
                    WriteRegister(_index, data[i]);
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _timer.Dispose();
        }
    }

    private bool Binary => (_cmos[RegisterB] & BBinary) != 0;
    private bool Hour24 => (_cmos[RegisterB] & B24Hour) != 0;

    /// <summary>Divider bits 6-4 = 11x hold the countdown chain in reset: no updates, no periodic interrupts.</summary>
    private bool DividerRunning => (_cmos[RegisterA] & 0x60) != 0x60;

    private long GuestNow(long now) => _running ? _guestBase + (now - _clockBase) : _frozenGuest;

    private byte ReadRegister(int index)
    {
        long now = _clock.NowNanoseconds;
        switch (index)
        {
            case RegisterA:
            {
                byte value = (byte)(_cmos[RegisterA] & 0x7F);
                if (_running && FloorMod(GuestNow(now), NanosecondsPerSecond) >= NanosecondsPerSecond - UipLeadNanoseconds)
                    value |= AUip;
                return value;
            }
            case RegisterC:
            {
                AccountFlags(now);
                byte value = Irqf() ? (byte)(_flags | CIrqf) : _flags;
                // Reading C clears every flag and releases IRQ (datasheet "Register C").
                _flags = 0;
                UpdateIrqAndSchedule(now);
                return value;
            }
            case RegisterD:
                return DVrt;
            case <= Year or Century:
                if (_running) RefreshTimeRegisters(GuestNow(now));
                return _cmos[index];
            default:
                return _cmos[index];
        }
    }

    private void WriteRegister(int index, byte value)
    {
        long now = _clock.NowNanoseconds;
        switch (index)
        {
            case RegisterA:
                WriteRegisterA(value, now);
                break;
            case RegisterB:
                WriteRegisterB(value, now);
                break;
            case RegisterC:
            case RegisterD:
                break; // read-only
            case SecondsAlarm or MinutesAlarm or HoursAlarm:
                AccountFlags(now);
                _cmos[index] = value;
                UpdateIrqAndSchedule(now);
                break;
            case <= Year or Century:
                AccountFlags(now);
                if (_running) RefreshTimeRegisters(GuestNow(now));
                _cmos[index] = value;
                if (_running) SetGuestTimeFromRegisters(now, FloorMod(GuestNow(now), NanosecondsPerSecond));
                UpdateIrqAndSchedule(now);
                break;
            default:
                _cmos[index] = value;
                break;
        }
    }

    private void WriteRegisterA(byte value, long now)
    {
        AccountFlags(now);
        bool wasRunning = DividerRunning;
        _cmos[RegisterA] = (byte)(value & 0x7F);
        if (wasRunning && !DividerRunning)
        {
            Stop(now);
        }
        else if (!wasRunning && DividerRunning)
        {
            // Leaving divider reset: the first update comes 500 ms later (datasheet "Divider control").
            _dividerOrigin = now - NanosecondsPerSecond / 2;
            if ((_cmos[RegisterB] & BSet) == 0) Start(now, NanosecondsPerSecond / 2);
        }
        UpdateIrqAndSchedule(now);
    }

    private void WriteRegisterB(byte value, long now)
    {
        AccountFlags(now);
        bool wasSet = (_cmos[RegisterB] & BSet) != 0;
        // Setting SET aborts any update cycle and clears UIE (datasheet "Register B", bits 7 and 4).
        if ((value & BSet) != 0) value = (byte)(value & ~BUie);
        if (_running) RefreshTimeRegisters(GuestNow(now));
        _cmos[RegisterB] = value;
        if (!wasSet && (value & BSet) != 0)
        {
            Stop(now);
        }
        else if (wasSet && (value & BSet) == 0 && DividerRunning)
        {
            Start(now, FloorMod(now - _dividerOrigin, NanosecondsPerSecond));
        }
        else if (_running)
        {
            RefreshTimeRegisters(GuestNow(now)); // the data mode or hour format changed
        }
        UpdateIrqAndSchedule(now);
    }

    private void Stop(long now)
    {
        if (!_running) return;
        _frozenGuest = GuestNow(now);
        RefreshTimeRegisters(_frozenGuest);
        _running = false;
    }

    private void Start(long now, long subSecond)
    {
        SetGuestTimeFromRegisters(now, subSecond);
        _running = true;
        _lastGuestSecondChecked = FloorDiv(GuestNow(now), NanosecondsPerSecond);
    }

    /// <summary>Takes the time the guest wrote into the time registers as the new guest time.</summary>
    private void SetGuestTimeFromRegisters(long now, long subSecond)
    {
        int second = FromRegister(_cmos[Seconds]);
        int minute = FromRegister(_cmos[Minutes]);
        int hour = DecodeHour(_cmos[Hours]);
        int day = FromRegister(_cmos[DayOfMonth]);
        int month = FromRegister(_cmos[Month]);
        int year = FromRegister(_cmos[Century]) * 100 + FromRegister(_cmos[Year]);
        if (second > 59 || minute > 59 || hour > 23 || month is < 1 or > 12 || year is < 1 or > 9999 ||
            day < 1 || day > DateTime.DaysInMonth(year, month))
            return; // not a time the chip could count from; keep the running time
        var date = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc);
        _dayOfWeekSkew = FloorMod(FromRegister(_cmos[DayOfWeek]) - 1 - (int)date.DayOfWeek, 7);
        long guest = (date.Ticks - DateTime.UnixEpoch.Ticks) * 100 + subSecond;
        _guestBase = guest;
        _clockBase = now;
        _frozenGuest = guest;
        _lastGuestSecondChecked = FloorDiv(guest, NanosecondsPerSecond);
    }

    private void RefreshTimeRegisters(long guestNanoseconds)
    {
        var t = DateTime.UnixEpoch.AddTicks(guestNanoseconds / 100);
        _cmos[Seconds] = ToRegister(t.Second);
        _cmos[Minutes] = ToRegister(t.Minute);
        _cmos[Hours] = EncodeHour(t.Hour);
        _cmos[DayOfWeek] = ToRegister(((int)t.DayOfWeek + _dayOfWeekSkew) % 7 + 1);
        _cmos[DayOfMonth] = ToRegister(t.Day);
        _cmos[Month] = ToRegister(t.Month);
        _cmos[Year] = ToRegister(t.Year % 100);
        _cmos[Century] = ToRegister(t.Year / 100);
    }

    /// <summary>Sets PF, UF and AF for every periodic tick, update and alarm between the last look and now.</summary>
    private void AccountFlags(long now)
    {
        if (now <= _lastFlagCheck) return;
        int rate = _cmos[RegisterA] & 0x0F;
        if (DividerRunning && rate != 0 && PeriodicIndex(_lastFlagCheck, rate) != PeriodicIndex(now, rate))
            _flags |= CPf;
        if (_running)
        {
            long second = FloorDiv(GuestNow(now), NanosecondsPerSecond);
            if (second > _lastGuestSecondChecked)
            {
                _flags |= CUf;
                long? alarm = NextAlarmSecond(_lastGuestSecondChecked);
                if (alarm is { } a && a <= second) _flags |= CAf;
                _lastGuestSecondChecked = second;
            }
        }
        _lastFlagCheck = now;
    }

    private bool Irqf()
    {
        byte enables = (byte)(_cmos[RegisterB] & (BPie | BAie | BUie));
        return (_flags & enables) != 0; // PF/PIE, AF/AIE, UF/UIE share bit positions
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            if (_disposed) return;
            long now = _clock.NowNanoseconds;
            AccountFlags(now);
            UpdateIrqAndSchedule(now);
        }
    }

    /// <summary>
    /// IRQ8 follows IRQF. While IRQF is high nothing more can change the line until register C is read, so a timer
    /// is only armed for the next event of an enabled source while it is low.
    /// </summary>
    private void UpdateIrqAndSchedule(long now)
    {
        bool level = Irqf();
        if (level != _irqLevel)
        {
            _irqLevel = level;
            _interrupts.SetIrq(Irq, level);
        }
        long next = long.MaxValue;
        if (!level)
        {
            byte b = _cmos[RegisterB];
            int rate = _cmos[RegisterA] & 0x0F;
            if ((b & BPie) != 0 && DividerRunning && rate != 0)
                next = Math.Min(next, PeriodicBoundaryAfter(now, rate));
            if (_running && (b & (BUie | BAie)) != 0)
            {
                long second = FloorDiv(GuestNow(now), NanosecondsPerSecond);
                long? target = (b & BUie) != 0 ? second + 1 : NextAlarmSecond(second);
                if (target is { } s) next = Math.Min(next, now + (s * NanosecondsPerSecond - GuestNow(now)));
            }
        }
        if (next == long.MaxValue) _timer.Disarm();
        else _timer.ArmAt(next);
    }

    /// <summary>Periodic rate (register A RS3-0) with the 32.768 kHz base: 65536 >> n Hz, RS 1 and 2 as RS 8 and 9.</summary>
    private static int PeriodShift(int rate) => rate <= 2 ? rate + 7 : rate - 1;

    private long PeriodicIndex(long now, int rate) =>
        (long)(((Int128)(now - _dividerOrigin) * 32768) / ((Int128)NanosecondsPerSecond << PeriodShift(rate)));

    private long PeriodicBoundaryAfter(long now, int rate)
    {
        long index = PeriodicIndex(now, rate) + 1;
        Int128 scaled = ((Int128)index * NanosecondsPerSecond << PeriodShift(rate)) + 32767;
        return _dividerOrigin + (long)(scaled / 32768);
    }

    /// <summary>
    /// The first guest second after <paramref name="afterSecond"/> whose seconds, minutes and hours registers
    /// equal the alarm registers; an alarm byte of 0xC0-0xFF matches anything (datasheet "Alarm").
    /// </summary>
    private long? NextAlarmSecond(long afterSecond)
    {
        byte sa = _cmos[SecondsAlarm], ma = _cmos[MinutesAlarm], ha = _cmos[HoursAlarm];
        long dayStart = FloorDiv(afterSecond, 86400) * 86400;
        for (long day = dayStart; day <= dayStart + 86400; day += 86400)
            for (int h = 0; h < 24; h++)
            {
                if (!AlarmMatches(ha, EncodeHour(h))) continue;
                for (int m = 0; m < 60; m++)
                {
                    if (!AlarmMatches(ma, ToRegister(m))) continue;
                    for (int s = 0; s < 60; s++)
                    {
                        long candidate = day + h * 3600 + m * 60 + s;
                        if (candidate > afterSecond && AlarmMatches(sa, ToRegister(s))) return candidate;
                    }
                }
            }
        return null;
    }

    private static bool AlarmMatches(byte alarm, byte value) => (alarm & 0xC0) == 0xC0 || alarm == value;

    private byte ToRegister(int value) => Binary ? (byte)value : (byte)(value / 10 << 4 | value % 10);

    private int FromRegister(byte value) => Binary ? value : (value >> 4) * 10 + (value & 0x0F);

    /// <summary>In 12-hour mode hours run 1-12 with bit 7 set for PM (datasheet "Time, calendar and alarm").</summary>
    private byte EncodeHour(int hour)
    {
        if (Hour24) return ToRegister(hour);
        int h12 = hour % 12 == 0 ? 12 : hour % 12;
        return (byte)(ToRegister(h12) | (hour >= 12 ? 0x80 : 0));
    }

    private int DecodeHour(byte value)
    {
        if (Hour24) return FromRegister(value);
        int h12 = FromRegister((byte)(value & 0x7F));
        return h12 % 12 + ((value & 0x80) != 0 ? 12 : 0);
    }

    private void Store16(int index, ulong value)
    {
        _cmos[index] = (byte)value;
        _cmos[index + 1] = (byte)(value >> 8);
    }

    /// <summary>The IBM AT checksum: a big-endian 16-bit sum of bytes 0x10-0x2D stored at 0x2E/0x2F.</summary>
    private void UpdateChecksum()
    {
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += _cmos[i];
        _cmos[0x2E] = (byte)(sum >> 8);
        _cmos[0x2F] = (byte)sum;
    }

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);
    private static long FloorMod(long a, long b) => a - FloorDiv(a, b) * b;
    private static int FloorMod(int a, int b) => (a % b + b) % b;
}
