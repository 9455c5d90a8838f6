using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Interrupts;

// The APIC timer (Intel SDM Vol. 3A 11.5.4): one-shot, periodic and TSC-deadline modes. The count is never
// ticked: the current count is computed from the clock, and one virtual timer is armed for the next expiry.
public sealed partial class Lapic
{
    /// <summary>
    /// The timer counts bus cycles; hv's bus runs at 1 GHz, the value KVM uses (APIC_BUS_CYCLE_NS = 1), so the
    /// count rate a guest calibrates is the same on both backends.
    /// </summary>
    public const long BusCycleNanoseconds = 1;

    /// <summary>
    /// The shortest interval at which periodic mode really fires (KVM limits it similarly): a guest that
    /// programs a tiny period still sees the count reload at its rate, but the host is not flooded.
    /// </summary>
    public const long MinimumPeriodNanoseconds = 100_000;

    public const uint Ia32TscDeadlineMsr = 0x6E0;

    private readonly VirtualClock _clock;
    private readonly GuestTsc _tsc;
    private readonly IVirtualTimer _timer;

    private uint _initialCount, _divideConfig;
    private bool _counting;
    private long _countStartNs; // when the count last had the value _countStartValue
    private uint _countStartValue;
    private long _nextExpiryNs = -1; // what _timer is armed for; -1 when disarmed
    private ulong _tscDeadline;

    private enum TimerMode
    {
        OneShot,
        Periodic,
        TscDeadline,
    }

    /// <summary>
    /// IA32_TSC_DEADLINE as RDMSR returns it: the armed deadline in TSC-deadline mode (0 once it fired), and 0
    /// in the other modes (SDM 11.5.4.1).
    /// </summary>
    public ulong TscDeadline
    {
        get
        {
            lock (_lock) return Mode == TimerMode.TscDeadline ? _tscDeadline : 0;
        }
    }

    // LVT timer bits 18:17; the reserved encoding 11b counts as one-shot, as in KVM.
    private TimerMode Mode => ((_lvt[(int)LapicLvt.Timer] >> 17) & 3) switch
    {
        1 => TimerMode.Periodic,
        2 => TimerMode.TscDeadline,
        _ => TimerMode.OneShot,
    };

    /// <summary>Bus cycles per count: divide configuration bits 3, 1:0 (SDM Figure 11-10).</summary>
    private long TickNanoseconds
    {
        get
        {
            uint code = (_divideConfig & 3) | ((_divideConfig >> 1) & 4);
            return (code == 7 ? 1L : 2L << (int)code) * BusCycleNanoseconds;
        }
    }

    /// <summary>
    /// WRMSR IA32_TSC_DEADLINE (SDM 11.5.4.1): arms the timer for the TSC value, fires at once for a past one,
    /// disarms for 0; ignored unless the timer is in TSC-deadline mode.
    /// </summary>
    public void WriteTscDeadline(ulong value)
    {
        bool wake = false;
        lock (_lock)
        {
            if (Mode != TimerMode.TscDeadline) return;
            _tscDeadline = value;
            if (value == 0)
            {
                DisarmLocked();
                return;
            }
            long due = _tsc.NanosecondsWhen(value);
            if (due <= _clock.NowNanoseconds)
            {
                DisarmLocked();
                _tscDeadline = 0;
                wake = RaiseLocalLocked(LapicLvt.Timer);
                UpdateAttention();
            }
            else
            {
                ArmLocked(due);
            }
        }
        if (wake) Wakeup?.Invoke();
    }

    private void OnTimerExpired()
    {
        bool wake;
        lock (_lock)
        {
            long now = _clock.NowNanoseconds;
            // A callback for an arming that was since replaced or cancelled is stale.
            if (_nextExpiryNs < 0 || now < _nextExpiryNs) return;
            _nextExpiryNs = -1;
            switch (Mode)
            {
                case TimerMode.TscDeadline:
                    _tscDeadline = 0;
                    break;
                case TimerMode.Periodic when _counting:
                    // Missed periods coalesce into this one interrupt, as a late interrupt would on hardware.
                    ArmLocked(Math.Max(NextExpiryAfter(now), now + MinimumPeriodNanoseconds));
                    break;
                default:
                    _counting = false; // one-shot: the count stays at zero (SDM 11.5.4)
                    break;
            }
            wake = RaiseLocalLocked(LapicLvt.Timer);
            UpdateAttention();
        }
        if (wake) Wakeup?.Invoke();
    }

    private uint CurrentCountLocked(long now)
    {
        if (!_counting) return 0;
        ulong elapsed = (ulong)Math.Max(0, now - _countStartNs) / (ulong)TickNanoseconds;
        if (elapsed < _countStartValue) return (uint)(_countStartValue - elapsed);
        if (Mode != TimerMode.Periodic) return 0;
        // Periodic mode reloads the initial count when the count reaches zero.
        return _initialCount - (uint)((elapsed - _countStartValue) % _initialCount);
    }

    /// <summary>The first expiry after <paramref name="now"/> (for one-shot, the only one).</summary>
    private long NextExpiryAfter(long now)
    {
        long tick = TickNanoseconds;
        long first = _countStartNs + (long)_countStartValue * tick;
        if (Mode != TimerMode.Periodic || first > now) return first;
        long period = (long)_initialCount * tick;
        return first + ((now - first) / period + 1) * period;
    }

    /// <summary>SDM 11.5.4: writing the initial count starts counting from it; 0 stops the timer.</summary>
    private void WriteInitialCountLocked(uint value)
    {
        // In TSC-deadline mode the initial-count register is ignored (SDM 11.5.4.1).
        if (Mode == TimerMode.TscDeadline) return;
        _initialCount = value;
        if (value == 0)
        {
            StopCountLocked();
            return;
        }
        StartCountLocked(_clock.NowNanoseconds, value);
    }

    /// <summary>A new divider applies from the current count on (KVM rescales the remaining time the same way).</summary>
    private void WriteDivideConfigLocked(uint value)
    {
        long now = _clock.NowNanoseconds;
        uint current = CurrentCountLocked(now);
        _divideConfig = value & 0xB;
        if (_counting && current != 0) StartCountLocked(now, current);
    }

    private void WriteLvtTimerLocked(uint value)
    {
        long now = _clock.NowNanoseconds;
        var oldMode = Mode;
        uint current = CurrentCountLocked(now);
        _lvt[(int)LapicLvt.Timer] = value;
        var newMode = Mode;
        if ((oldMode == TimerMode.TscDeadline) != (newMode == TimerMode.TscDeadline))
        {
            // Entering or leaving TSC-deadline mode disarms the timer and clears both its programmings.
            StopCountLocked();
            _initialCount = 0;
            _tscDeadline = 0;
        }
        else if (oldMode != newMode && _counting && current != 0)
        {
            // One-shot <-> periodic keeps counting down; only what happens at zero changes.
            StartCountLocked(now, current);
        }
        // Masking does not stop the count (SDM 11.5.4): only the interrupt at expiry is suppressed.
    }

    private void StartCountLocked(long now, uint count)
    {
        _counting = true;
        _countStartNs = now;
        _countStartValue = count;
        ArmLocked(NextExpiryAfter(now));
    }

    private void StopCountLocked()
    {
        _counting = false;
        DisarmLocked();
    }

    private void ArmLocked(long deadline)
    {
        _nextExpiryNs = deadline;
        _timer.ArmAt(deadline);
    }

    private void DisarmLocked()
    {
        _nextExpiryNs = -1;
        _timer.Disarm();
    }

    private void ResetTimerLocked()
    {
        StopCountLocked();
        _initialCount = 0;
        _divideConfig = 0;
        _tscDeadline = 0;
    }

    /// <summary>Resumes the timer from saved registers: the count continues from the saved current count.</summary>
    private void RestoreTimerLocked(uint initialCount, uint divideConfig, uint currentCount, ulong tscDeadline)
    {
        StopCountLocked();
        _initialCount = initialCount;
        _divideConfig = divideConfig & 0xB;
        _tscDeadline = 0;
        long now = _clock.NowNanoseconds;
        if (Mode == TimerMode.TscDeadline)
        {
            _tscDeadline = tscDeadline;
            if (tscDeadline != 0) ArmLocked(Math.Max(now, _tsc.NanosecondsWhen(tscDeadline)));
            return;
        }
        if (currentCount != 0) StartCountLocked(now, currentCount);
        else if (Mode == TimerMode.Periodic && initialCount != 0) StartCountLocked(now, initialCount);
    }
}
