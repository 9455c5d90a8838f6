namespace Hypervisor.Platform.Time;

/// <summary>
/// The guest's sense of time. Devices (PIT, RTC, APIC timer, TSC) read it and arm timers on it, so the
/// host-monotonic clock can later be swapped for a deterministic one without touching them.
/// </summary>
public abstract class VirtualClock
{
    /// <summary>Nanoseconds since the clock was created; monotonic.</summary>
    public abstract long NowNanoseconds { get; }

    /// <summary>A one-shot timer that calls <paramref name="onExpired"/> (on a clock thread) at its deadline.</summary>
    public abstract IVirtualTimer CreateTimer(Action onExpired);
}

public interface IVirtualTimer : IDisposable
{
    /// <summary>Arms (or re-arms) the timer for the absolute clock time <paramref name="deadlineNanoseconds"/>.</summary>
    void ArmAt(long deadlineNanoseconds);

    void Disarm();

    bool IsArmed { get; }
}
