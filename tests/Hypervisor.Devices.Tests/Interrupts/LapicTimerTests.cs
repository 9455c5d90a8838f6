using Hypervisor.Devices.Interrupts;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Tests.Interrupts;

public class LapicTimerTests : IDisposable
{
    private const byte Vector = 0xEC;
    private const uint Periodic = 1u << 17;
    private const uint TscDeadline = 2u << 17;
    private const uint Masked = 1u << 16;
    private const uint DivideBy1 = 0xB;

    // 2 GHz TSC: two ticks per nanosecond of the clock.
    private readonly ManualClock _clock = new(startNanoseconds: 1_000);
    private readonly GuestTsc _tsc;
    private readonly Lapic _lapic;
    private int _wakeups;

    public LapicTimerTests()
    {
        _tsc = new GuestTsc(_clock, 2_000_000_000);
        _lapic = new Lapic(0, isBootstrapProcessor: true, _clock, _tsc, new RecordingApicBus());
        _lapic.WriteRegister(LapicOffsets.Svr, 0x1FF);
        _lapic.Wakeup += () => _wakeups++;
    }

    public void Dispose() => _lapic.Dispose();

    private uint Current => _lapic.ReadRegister(LapicOffsets.CurrentCount);

    private bool Pending => ((_lapic.ReadRegister(LapicOffsets.Irr + (Vector >> 5) * 16) >> (Vector & 31)) & 1) != 0;

    private void Start(uint lvt, uint divide, uint count)
    {
        _lapic.WriteRegister(LapicOffsets.LvtTimer, lvt);
        _lapic.WriteRegister(LapicOffsets.DivideConfig, divide);
        _lapic.WriteRegister(LapicOffsets.InitialCount, count);
    }

    private void TakeAndRetire()
    {
        Assert.Equal(Vector, _lapic.Acknowledge());
        _lapic.WriteRegister(LapicOffsets.Eoi, 0);
    }

    [Fact]
    public void OneShot_CountsDownFromTheClockAndFiresOnce()
    {
        Start(Vector, DivideBy1, 1_000);
        Assert.Equal(1_000u, Current);
        Assert.Equal(1_000u, _lapic.ReadRegister(LapicOffsets.InitialCount));
        _clock.Advance(400);
        Assert.Equal(600u, Current);
        Assert.False(Pending);

        _clock.Advance(599);
        Assert.Equal(1u, Current);
        Assert.False(Pending);
        _clock.Advance(1);
        Assert.True(Pending);
        Assert.Equal(0u, Current);
        Assert.Equal(1, _wakeups);

        TakeAndRetire();
        _clock.Advance(10_000);
        Assert.False(Pending);
        Assert.Equal(0u, Current);
        Assert.Equal(0, _clock.ArmedTimers);
    }

    [Theory]
    [InlineData(0x0u, 2)]
    [InlineData(0x1u, 4)]
    [InlineData(0x2u, 8)]
    [InlineData(0x3u, 16)]
    [InlineData(0x8u, 32)]
    [InlineData(0x9u, 64)]
    [InlineData(0xAu, 128)]
    [InlineData(0xBu, 1)]
    public void DivideConfiguration_SetsNanosecondsPerCount(uint divide, int divisor)
    {
        Start(Vector, divide, 100);
        _clock.Advance(10L * divisor);
        Assert.Equal(90u, Current);
        _clock.Advance(90L * divisor - 1);
        Assert.False(Pending);
        _clock.Advance(1);
        Assert.True(Pending);
    }

    [Fact]
    public void DivideChange_AppliesToTheRemainingCount()
    {
        Start(Vector, DivideBy1, 1_000);
        _clock.Advance(500);
        _lapic.WriteRegister(LapicOffsets.DivideConfig, 0x3); // by 16
        Assert.Equal(500u, Current);
        _clock.Advance(160);
        Assert.Equal(490u, Current);
        _clock.Advance(490 * 16 - 1);
        Assert.False(Pending);
        _clock.Advance(1);
        Assert.True(Pending);
    }

    [Fact]
    public void Periodic_ReloadsAndFiresEveryPeriod()
    {
        const uint period = 200_000; // above the periodic floor, so every expiry fires
        Start(Vector | Periodic, DivideBy1, period);
        _clock.Advance(period - 1);
        Assert.False(Pending);
        _clock.Advance(1);
        Assert.True(Pending);
        Assert.Equal(period, Current); // reloaded
        TakeAndRetire();

        _clock.Advance(50_000);
        Assert.Equal(150_000u, Current);
        _clock.Advance(150_000);
        Assert.True(Pending);
        TakeAndRetire();
        _clock.Advance(period);
        Assert.True(Pending);
        Assert.Equal(3, _wakeups);
    }

    [Fact]
    public void Periodic_TinyPeriodCountsAtItsRateButFiresAtTheFloor()
    {
        Start(Vector | Periodic, DivideBy1, 10);
        _clock.Advance(Lapic.MinimumPeriodNanoseconds / 2);
        Assert.Equal(1, _clock.FiredCount); // the first expiry, then the next is held back
        Assert.Equal(10u, Current); // 50_000 is a multiple of 10: just reloaded
        _clock.Advance(3);
        Assert.Equal(7u, Current);
        _clock.Advance(Lapic.MinimumPeriodNanoseconds);
        Assert.Equal(2, _clock.FiredCount);
    }

    [Fact]
    public void SwitchingOneShotToPeriodic_KeepsCountingAndThenReloads()
    {
        Start(Vector, DivideBy1, 1_000);
        _clock.Advance(300);
        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector | Periodic);
        Assert.Equal(700u, Current);
        _clock.Advance(700);
        Assert.True(Pending);
        Assert.Equal(1_000u, Current);
    }

    [Fact]
    public void MaskedTimer_KeepsCountingWithoutInterrupting()
    {
        Start(Vector | Masked, DivideBy1, 1_000);
        _clock.Advance(400);
        Assert.Equal(600u, Current);
        _clock.Advance(600);
        Assert.False(Pending);
        Assert.Equal(0u, Current);
    }

    [Fact]
    public void InitialCountZero_StopsTheTimer()
    {
        Start(Vector, DivideBy1, 1_000);
        _clock.Advance(100);
        _lapic.WriteRegister(LapicOffsets.InitialCount, 0);
        Assert.Equal(0u, Current);
        _clock.Advance(5_000);
        Assert.False(Pending);
    }

    [Fact]
    public void TscDeadline_FiresWhenTheTscReachesTheDeadline()
    {
        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector | TscDeadline);
        ulong now = _tsc.Read();
        Assert.Equal(2_000UL, now); // 1000 ns at 2 GHz
        _lapic.WriteTscDeadline(now + 1_000);
        Assert.Equal(now + 1_000, _lapic.TscDeadline);
        _lapic.WriteRegister(LapicOffsets.InitialCount, 5); // ignored in this mode
        Assert.Equal(0u, _lapic.ReadRegister(LapicOffsets.InitialCount));
        Assert.Equal(0u, Current);

        _clock.Advance(499);
        Assert.False(Pending);
        _clock.Advance(1);
        Assert.True(Pending);
        Assert.Equal(0UL, _lapic.TscDeadline); // disarmed once it fired
        TakeAndRetire();
        _clock.Advance(10_000);
        Assert.False(Pending);
    }

    [Fact]
    public void TscDeadline_PastDeadlineFiresAtOnceAndZeroDisarms()
    {
        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector | TscDeadline);
        _lapic.WriteTscDeadline(1);
        Assert.True(Pending);
        TakeAndRetire();

        _lapic.WriteTscDeadline(_tsc.Read() + 100);
        _lapic.WriteTscDeadline(0);
        _clock.Advance(1_000);
        Assert.False(Pending);
    }

    [Fact]
    public void TscDeadline_IgnoredOutsideItsModeAndClearedByModeChange()
    {
        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector);
        _lapic.WriteTscDeadline(_tsc.Read() + 100);
        Assert.Equal(0UL, _lapic.TscDeadline);
        _clock.Advance(1_000);
        Assert.False(Pending);

        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector | TscDeadline);
        _lapic.WriteTscDeadline(_tsc.Read() + 100);
        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector); // leaving the mode disarms it
        _clock.Advance(1_000);
        Assert.False(Pending);
        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector | TscDeadline);
        Assert.Equal(0UL, _lapic.TscDeadline);

        // And entering it stops a running count.
        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector);
        _lapic.WriteRegister(LapicOffsets.InitialCount, 300);
        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector | TscDeadline);
        _clock.Advance(1_000);
        Assert.False(Pending);
    }

    [Fact]
    public void GuestTsc_WriteMovesTheCounterAndTheDeadlineWithIt()
    {
        _tsc.Write(1_000_000);
        Assert.Equal(1_000_000UL, _tsc.Read());
        _clock.Advance(10);
        Assert.Equal(1_000_020UL, _tsc.Read());

        _lapic.WriteRegister(LapicOffsets.LvtTimer, Vector | TscDeadline);
        _lapic.WriteTscDeadline(1_000_020 + 200);
        _clock.Advance(99);
        Assert.False(Pending);
        _clock.Advance(1);
        Assert.True(Pending);
    }
}
