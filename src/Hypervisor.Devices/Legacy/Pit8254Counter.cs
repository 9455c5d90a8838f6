namespace Hypervisor.Devices.Legacy;

/// <summary>
/// One counter of the Intel 8254. The counting element is not ticked: its value and OUT are computed from the
/// number of CLK pulses elapsed since it was loaded, which the owner passes in as absolute tick numbers.
/// Not thread-safe; <see cref="Pit8254"/> serialises access.
/// </summary>
internal sealed class Pit8254Counter(bool gateInitiallyHigh)
{
    private const int AccessLsb = 1, AccessMsb = 2, AccessWord = 3;

    // Programming (control word).
    public int Mode { get; private set; }
    public bool Bcd { get; private set; }
    private int _access = AccessWord;

    // Write side: CR and the LSB/MSB flip-flop.
    private bool _writeMsbNext;
    private byte _writeLsb;
    private int _countRegister; // last complete count written, 1..65536 (0 means the maximum)
    private bool _countWritten;
    private bool _nullCount = true;

    // Read side: output latch, status latch, flip-flop.
    private bool _readMsbNext;
    private int _latchedBytes; // bytes of the latched count still to read
    private ushort _latchedCount;
    private bool _statusLatched;
    private byte _latchedStatus;

    // Counting element.
    private bool _loaded; // CE holds a count (mode 1/5: and has been triggered)
    private int _initial; // N the CE counts from (65536 / 10000 for a written 0)
    private bool _counting;
    private long _countingSince; // tick at which counting (re)started
    private long _elapsedBefore; // CLK pulses counted before _countingSince
    private int _heldValue; // CE value while nothing is loaded
    private bool _outBeforeLoad; // OUT between the control word and the first load
    private long _reloadTick = -1; // modes 2/3: when a count written while counting takes over
    private long _reloadOffset; // pulses already "counted" in the new count when it takes over (mode 3 phase)

    public bool Gate { get; private set; } = gateInitiallyHigh;

    /// <summary>The count written to CR (the reload value), for diagnostics and the speaker frequency.</summary>
    public int Initial => _initial;

    private int Modulus => Bcd ? 10000 : 65536;

    public void Reset()
    {
        Mode = 0;
        Bcd = false;
        _access = AccessWord;
        _writeMsbNext = _readMsbNext = false;
        _countRegister = 0;
        _countWritten = false;
        _nullCount = true;
        _latchedBytes = 0;
        _statusLatched = false;
        _loaded = false;
        _counting = false;
        _heldValue = 0;
        _outBeforeLoad = false;
        _reloadTick = -1;
    }

    /// <summary>Control word with RW != 00: mode, access and number format; CR must be written anew.</summary>
    public void Program(int access, int mode, bool bcd, long now)
    {
        Sync(now);
        _heldValue = CurrentValue(now);
        _access = access;
        Mode = mode > 5 ? mode - 4 : mode; // modes 6 and 7 are 2 and 3 (datasheet control word format)
        Bcd = bcd;
        _writeMsbNext = _readMsbNext = false;
        _nullCount = true;
        _loaded = false;
        _counting = false;
        _countWritten = false;
        _reloadTick = -1;
        // Datasheet mode descriptions: OUT is low after the control word in mode 0 and high in the others.
        _outBeforeLoad = Mode != 0;
    }

    /// <summary>Counter latch command: snapshot the count unless a latched count is still being read.</summary>
    public void LatchCount(long now)
    {
        if (_latchedBytes != 0) return;
        Sync(now);
        _latchedCount = (ushort)CurrentValue(now);
        _latchedBytes = _access == AccessWord ? 2 : 1;
    }

    /// <summary>Read-back status latch: OUT, NULL COUNT and the programmed RW/mode/BCD bits.</summary>
    public void LatchStatus(long now)
    {
        if (_statusLatched) return;
        Sync(now);
        bool nullCount = _nullCount || (_counting && now < _countingSince); // CR not in the CE until that CLK
        _latchedStatus = (byte)((Out(now) ? 0x80 : 0) | (nullCount ? 0x40 : 0) | (_access << 4) | (Mode << 1) |
                                (Bcd ? 1 : 0));
        _statusLatched = true;
    }

    public byte Read(long now)
    {
        if (_statusLatched)
        {
            _statusLatched = false;
            return _latchedStatus;
        }
        int value;
        if (_latchedBytes != 0)
        {
            value = _latchedCount;
        }
        else
        {
            Sync(now);
            value = CurrentValue(now);
        }
        byte result;
        switch (_access)
        {
            case AccessLsb:
                result = (byte)value;
                if (_latchedBytes != 0) _latchedBytes = 0;
                break;
            case AccessMsb:
                result = (byte)(value >> 8);
                if (_latchedBytes != 0) _latchedBytes = 0;
                break;
            default:
                result = _readMsbNext ? (byte)(value >> 8) : (byte)value;
                _readMsbNext = !_readMsbNext;
                if (_latchedBytes != 0) _latchedBytes--;
                break;
        }
        return result;
    }

    public void Write(byte value, long now)
    {
        Sync(now);
        int count;
        switch (_access)
        {
            case AccessLsb:
                count = value;
                break;
            case AccessMsb:
                count = value << 8;
                break;
            default:
                if (!_writeMsbNext)
                {
                    _writeLsb = value;
                    _writeMsbNext = true;
                    // Mode 0: writing the first byte stops the count and OUT goes low (datasheet mode 0).
                    if (Mode == 0 && _loaded)
                    {
                        Freeze(now);
                        _loaded = false;
                        _outBeforeLoad = false;
                    }
                    return;
                }
                _writeMsbNext = false;
                count = _writeLsb | (value << 8);
                break;
        }
        LoadCountRegister(count, now);
    }

    public void SetGate(bool level, long now)
    {
        Sync(now);
        bool rising = level && !Gate;
        bool falling = !level && Gate;
        Gate = level;
        switch (Mode)
        {
            case 0:
            case 4:
                // Gate low suspends counting; it resumes where it stopped.
                if (falling && _counting) Freeze(now);
                else if (rising && _loaded) Resume(now);
                break;
            case 1:
            case 5:
                // A rising gate (re)triggers: CR goes into the CE and counting starts over.
                if (rising && _countWritten) StartFromCountRegister(now, 0);
                break;
            case 2:
            case 3:
                // Gate low stops counting and forces OUT high; a rising gate reloads and restarts.
                if (falling && _counting) Freeze(now);
                else if (rising && _countWritten) StartFromCountRegister(now, 0);
                break;
        }
    }

    /// <summary>OUT at tick <paramref name="now"/> (call <see cref="Sync"/> first).</summary>
    public bool Out(long now)
    {
        if (!_loaded) return _outBeforeLoad;
        long e = Elapsed(now);
        int n = _initial;
        switch (Mode)
        {
            case 0:
            case 1:
                return e >= n;
            case 2:
                return !Gate || e % n != n - 1;
            case 3:
                return !Gate || e % n < (n + 1) / 2;
            default: // 4, 5: one CLK low when the count reaches zero
                return e != n;
        }
    }

    /// <summary>
    /// The next tick after <paramref name="now"/> at which OUT rises or (mode 3) falls, and whether that event is a
    /// one-CLK low pulse ending (modes 2, 4, 5), or null when OUT will not change by itself.
    /// </summary>
    public (long Tick, bool Pulse)? NextOutputEvent(long now)
    {
        if (!_loaded || !_counting) return null;
        now = Math.Max(now, _countingSince); // events are counted from the CLK that loads the CE
        long e = Elapsed(now);
        int n = _initial;
        (long Tick, bool Pulse)? next = Mode switch
        {
            0 or 1 => e < n ? (now + (n - e), false) : null,
            2 => (now + (n - e % n), true),
            3 => e % n < (n + 1) / 2 ? (now + ((n + 1) / 2 - e % n), false) : (now + (n - e % n), false),
            _ => e <= n ? (now + (n + 1 - e), true) : null,
        };
        if (_reloadTick > now && (next is null || _reloadTick < next.Value.Tick)) next = (_reloadTick, false);
        return next;
    }

    /// <summary>Applies a count written during modes 2/3 once the cycle it waited for has ended.</summary>
    public void Sync(long now)
    {
        if (_reloadTick < 0 || now < _reloadTick) return;
        long at = _reloadTick;
        _reloadTick = -1;
        _initial = EffectiveCount(_countRegister);
        _elapsedBefore = _reloadOffset;
        _countingSince = at;
        _nullCount = false;
    }

    private void LoadCountRegister(int count, long now)
    {
        _countRegister = count;
        _countWritten = true;
        _nullCount = true;
        switch (Mode)
        {
            case 0:
            case 4:
                // Loaded on the next CLK; a new count restarts the counter (datasheet modes 0 and 4).
                StartFromCountRegister(now, 0);
                if (!Gate) Freeze(now);
                break;
            case 1:
            case 5:
                break; // waits for a gate trigger
            case 2:
            case 3:
                if (!_loaded || !_counting)
                {
                    StartFromCountRegister(now, 0);
                    if (!Gate) Freeze(now);
                }
                else
                {
                    ScheduleReload(now);
                }
                break;
        }
    }

    /// <summary>
    /// Modes 2 and 3 do not disturb the cycle in progress: mode 2 takes a new count at the end of the current
    /// period, mode 3 at the end of the current half-cycle (datasheet modes 2 and 3).
    /// </summary>
    private void ScheduleReload(long now)
    {
        long e = Elapsed(now);
        int n = _initial;
        int newN = EffectiveCount(_countRegister);
        if (Mode == 2)
        {
            _reloadTick = now + (n - e % n);
            _reloadOffset = 0;
        }
        else if (e % n < (n + 1) / 2)
        {
            _reloadTick = now + ((n + 1) / 2 - e % n);
            _reloadOffset = (newN + 1) / 2; // the high half ended: the new count starts with its low half
        }
        else
        {
            _reloadTick = now + (n - e % n);
            _reloadOffset = 0;
        }
    }

    /// <summary>
    /// CR goes into the CE on the next CLK pulse, which does not count (datasheet "Counter loading"): a count of N
    /// written at clock t reaches zero at t + N + 1.
    /// </summary>
    private void StartFromCountRegister(long now, long alreadyElapsed)
    {
        _initial = EffectiveCount(_countRegister);
        _loaded = true;
        _counting = true;
        _countingSince = now + 1;
        _elapsedBefore = alreadyElapsed;
        _nullCount = false;
        _reloadTick = -1;
    }

    private void Freeze(long now)
    {
        _elapsedBefore = Elapsed(now);
        _heldValue = CurrentValue(now);
        _counting = false;
    }

    private void Resume(long now)
    {
        _countingSince = now;
        _counting = true;
    }

    private long Elapsed(long now) => _elapsedBefore + (_counting ? Math.Max(0, now - _countingSince) : 0);

    /// <summary>A written 0 is the largest count: 2^16 in binary, 10^4 in BCD.</summary>
    private int EffectiveCount(int written)
    {
        int value = Bcd ? FromBcd(written) : written;
        return value == 0 ? Modulus : value;
    }

    /// <summary>The counting element as the counter reads it (binary or BCD encoded).</summary>
    private int CurrentValue(long now)
    {
        if (!_loaded) return _heldValue;
        long e = Elapsed(now);
        int n = _initial;
        long value;
        switch (Mode)
        {
            case 2:
                value = n - e % n;
                break;
            case 3:
            {
                long p = e % n;
                int high = (n + 1) / 2;
                // Even N counts N, N-2 ... 2 in each half; odd N loads N-1 and counts down by two.
                long start = (n & 1) == 0 ? n : n - 1;
                value = p < high ? start - 2 * p : start - 2 * (p - high);
                break;
            }
            default:
                value = ((n - e) % Modulus + Modulus) % Modulus;
                break;
        }
        value %= Modulus;
        return Bcd ? ToBcd((int)value) : (int)value;
    }

    private static int FromBcd(int bcd) =>
        (bcd & 0xF) + ((bcd >> 4) & 0xF) * 10 + ((bcd >> 8) & 0xF) * 100 + ((bcd >> 12) & 0xF) * 1000;

    private static int ToBcd(int value) =>
        value % 10 | (value / 10 % 10) << 4 | (value / 100 % 10) << 8 | (value / 1000 % 10) << 12;
}
