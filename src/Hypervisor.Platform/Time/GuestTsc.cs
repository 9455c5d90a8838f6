namespace Hypervisor.Platform.Time;

/// <summary>
/// The guest's time-stamp counter derived from the <see cref="VirtualClock"/> at a fixed frequency, so RDTSC,
/// IA32_TSC_DEADLINE and the other clock-driven devices agree (Linux calibrates them against each other).
/// The software CPU should read RDTSC and write IA32_TSC here; every LAPIC of a chip shares one.
/// </summary>
public sealed class GuestTsc
{
    private const ulong NanosecondsPerSecond = 1_000_000_000;

    private readonly VirtualClock _clock;
    private long _offset; // guest TSC minus the clock-derived count; changed by IA32_TSC writes

    public GuestTsc(VirtualClock clock, long frequencyHz)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frequencyHz);
        _clock = clock;
        FrequencyHz = frequencyHz;
    }

    public long FrequencyHz { get; }

    /// <summary>RDTSC now.</summary>
    public ulong Read() => At(_clock.NowNanoseconds);

    /// <summary>WRMSR IA32_TSC (SDM Vol. 3B 18.17): the counter continues from <paramref name="value"/>.</summary>
    public void Write(ulong value) => Interlocked.Exchange(ref _offset, (long)(value - Count(_clock.NowNanoseconds)));

    /// <summary>The TSC at clock time <paramref name="nanoseconds"/>.</summary>
    public ulong At(long nanoseconds) => Count(nanoseconds) + (ulong)Interlocked.Read(ref _offset);

    /// <summary>The first clock time at which the TSC reads at least <paramref name="tsc"/> (for TSC-deadline).</summary>
    public long NanosecondsWhen(ulong tsc)
    {
        ulong count = tsc - (ulong)Interlocked.Read(ref _offset);
        // A target below the offset wrapped: it lies in the past.
        if ((long)count < 0) return 0;
        UInt128 ns = ((UInt128)count * NanosecondsPerSecond + (ulong)FrequencyHz - 1) / (ulong)FrequencyHz;
        return ns > long.MaxValue ? long.MaxValue : (long)ns;
    }

    private ulong Count(long nanoseconds) =>
        (ulong)((UInt128)(ulong)Math.Max(0, nanoseconds) * (ulong)FrequencyHz / NanosecondsPerSecond);
}
