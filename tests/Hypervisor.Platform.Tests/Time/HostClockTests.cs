using Hypervisor.Platform.Time;

namespace Hypervisor.Platform.Tests.Time;

public class HostClockTests
{
    [Fact]
    public void TimeIsMonotonic()
    {
        using var clock = new HostClock();
        long previous = clock.NowNanoseconds;
        for (int i = 0; i < 1000; i++)
        {
            long now = clock.NowNanoseconds;
            Assert.True(now >= previous);
            previous = now;
        }
    }

    [Fact]
    public void TimersFireInDeadlineOrderAndNotBeforeTheirDeadline()
    {
        using var clock = new HostClock();
        var fired = new List<(int Id, long At)>();
        using var done = new CountdownEvent(2);
        long start = clock.NowNanoseconds;
        var late = clock.CreateTimer(() => { lock (fired) fired.Add((2, clock.NowNanoseconds)); done.Signal(); });
        var early = clock.CreateTimer(() => { lock (fired) fired.Add((1, clock.NowNanoseconds)); done.Signal(); });
        late.ArmAt(start + 40_000_000);
        early.ArmAt(start + 10_000_000);
        Assert.True(done.Wait(TimeSpan.FromSeconds(10)));
        Assert.Equal([1, 2], fired.Select(f => f.Id));
        Assert.True(fired[0].At >= start + 10_000_000);
        Assert.True(fired[1].At >= start + 40_000_000);
        Assert.False(early.IsArmed);
    }

    [Fact]
    public void DisarmedAndReArmedTimersFireOnlyForTheLastDeadline()
    {
        using var clock = new HostClock();
        int count = 0;
        using var fired = new ManualResetEventSlim();
        var timer = clock.CreateTimer(() => { Interlocked.Increment(ref count); fired.Set(); });
        long now = clock.NowNanoseconds;
        timer.ArmAt(now + 5_000_000);
        timer.Disarm();
        timer.ArmAt(now + 20_000_000);
        Assert.True(fired.Wait(TimeSpan.FromSeconds(10)));
        Thread.Sleep(50);
        Assert.Equal(1, count);
        Assert.True(clock.NowNanoseconds >= now + 20_000_000);
    }
}
