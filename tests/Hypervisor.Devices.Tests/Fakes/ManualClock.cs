using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Tests.Fakes;

/// <summary>
/// A virtual clock that only moves when a test advances it. Timers fire synchronously inside
/// <see cref="Advance"/>, in deadline order, with <see cref="NowNanoseconds"/> set to each deadline.
/// </summary>
public sealed class ManualClock(long startNanoseconds = 0) : VirtualClock
{
    private readonly List<Timer> _timers = [];
    private long _now = startNanoseconds;

    public override long NowNanoseconds => _now;

    public override IVirtualTimer CreateTimer(Action onExpired)
    {
        var timer = new Timer(onExpired);
        _timers.Add(timer);
        return timer;
    }

    /// <summary>How many timers are armed right now.</summary>
    public int ArmedTimers => _timers.Count(t => t.IsArmed);

    /// <summary>The earliest armed deadline, or null.</summary>
    public long? NextDeadline => _timers.Where(t => t.IsArmed).Select(t => (long?)t.Deadline).Min();

    /// <summary>Total callbacks run so far.</summary>
    public int FiredCount { get; private set; }

    public void Advance(long nanoseconds) => AdvanceTo(_now + nanoseconds);

    public void AdvanceTo(long target)
    {
        if (target < _now) throw new ArgumentOutOfRangeException(nameof(target), "time does not go back");
        while (true)
        {
            Timer? next = null;
            foreach (var t in _timers)
                if (t.IsArmed && t.Deadline <= target && (next is null || t.Deadline < next.Deadline))
                    next = t;
            if (next is null) break;
            _now = Math.Max(_now, next.Deadline);
            next.IsArmed = false;
            FiredCount++;
            next.Callback();
        }
        _now = target;
    }

    private sealed class Timer(Action callback) : IVirtualTimer
    {
        public readonly Action Callback = callback;
        public long Deadline;

        public bool IsArmed { get; set; }

        public void ArmAt(long deadlineNanoseconds)
        {
            Deadline = deadlineNanoseconds;
            IsArmed = true;
        }

        public void Disarm() => IsArmed = false;

        public void Dispose() => IsArmed = false;
    }
}
