using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Legacy;

public class Pit8254Tests
{
    private readonly RecordingInterruptController _irq = new();
    private readonly ManualClock _clock = new();
    private readonly PortIoBus _bus = new();
    private readonly Pit8254 _pit;

    public Pit8254Tests()
    {
        _pit = new Pit8254(_irq, _clock);
        _pit.RegisterPorts(_bus);
        new SystemControlPortB(_pit, _clock).RegisterPorts(_bus);
    }

    /// <summary>Moves the clock to the first nanosecond of PIT clock number <paramref name="tick"/>.</summary>
    private void AtTick(long tick) =>
        _clock.AdvanceTo((long)(((Int128)tick * 1_000_000_000 + Pit8254.ClockHz - 1) / Pit8254.ClockHz));

    private void Program(int counter, int mode, int access = 3, bool bcd = false) =>
        _bus.Out8(0x43, (byte)(counter << 6 | access << 4 | mode << 1 | (bcd ? 1 : 0)));

    private void WriteCount(int counter, int count)
    {
        _bus.Out8((ushort)(0x40 + counter), (byte)count);
        _bus.Out8((ushort)(0x40 + counter), (byte)(count >> 8));
    }

    private int LatchAndRead(int counter)
    {
        _bus.Out8(0x43, (byte)(counter << 6));
        int lsb = _bus.In8((ushort)(0x40 + counter));
        return lsb | _bus.In8((ushort)(0x40 + counter)) << 8;
    }

    private bool Out2 => (_bus.In8(0x61) & 0x20) != 0;

    [Fact]
    public void Mode2RateGeneratorRaisesOneIrq0EdgePerPeriodWithOneTimerEventEach()
    {
        Program(0, 2);
        WriteCount(0, 1193);
        Assert.True(_irq.Level(0)); // OUT high in mode 2
        int edgesBefore = _irq.RisingEdges(0);
        AtTick(1193 * 10 + 1); // the CE is loaded one CLK after the write
        Assert.Equal(10, _irq.RisingEdges(0) - edgesBefore);
        Assert.Equal(10, _clock.FiredCount); // never ticked per count
        Assert.Equal(1, _clock.ArmedTimers);
    }

    [Fact]
    public void Mode2CountsDownFromNToOneAndReloads()
    {
        Program(0, 2);
        WriteCount(0, 100);
        Assert.Equal(100, LatchAndRead(0));
        AtTick(31); // loaded at CLK 1
        Assert.Equal(70, LatchAndRead(0));
        AtTick(100);
        Assert.Equal(1, LatchAndRead(0));
        AtTick(101);
        Assert.Equal(100, LatchAndRead(0));
    }

    [Fact]
    public void Mode0OutputGoesHighAtTerminalCountAndStays()
    {
        Program(0, 0);
        WriteCount(0, 500);
        Assert.False(_irq.Level(0));
        AtTick(500); // N + 1 CLKs after the write
        Assert.False(_irq.Level(0));
        AtTick(501);
        Assert.True(_irq.Level(0));
        Assert.Equal(0, _clock.ArmedTimers);
        AtTick(601);
        Assert.Equal(1, _irq.RisingEdges(0));
        Assert.Equal(65536 - 100, LatchAndRead(0)); // counting went on past zero and wrapped
    }

    [Fact]
    public void Mode0FirstByteOfANewCountStopsCountingAndDrivesOutLow()
    {
        Program(0, 0);
        WriteCount(0, 10);
        AtTick(20);
        Assert.True(_irq.Level(0));
        _bus.Out8(0x40, 0x50);
        Assert.False(_irq.Level(0));
        AtTick(100);
        _bus.Out8(0x40, 0x00); // count 0x0050 = 80 starts now
        AtTick(180);
        Assert.False(_irq.Level(0));
        AtTick(181);
        Assert.True(_irq.Level(0));
    }

    [Fact]
    public void Mode3SquareWaveOnCounter2IsVisibleInPort61Bit5()
    {
        _bus.Out8(0x61, 0x01); // gate counter 2
        Program(2, 3);
        WriteCount(2, 1000);
        Assert.True(Out2);
        AtTick(500);
        Assert.True(Out2);
        AtTick(501);
        Assert.False(Out2);
        AtTick(1000);
        Assert.False(Out2);
        AtTick(1001);
        Assert.True(Out2);
    }

    [Fact]
    public void Mode3DecrementsByTwoAndOddCountsHaveALongerHighHalf()
    {
        _bus.Out8(0x61, 0x01);
        Program(2, 3);
        WriteCount(2, 9);
        Assert.Equal(8, LatchAndRead(2));
        AtTick(2);
        Assert.Equal(6, LatchAndRead(2));
        AtTick(5);
        Assert.True(Out2); // high for (9 + 1) / 2 = 5 clocks
        AtTick(6);
        Assert.False(Out2); // low for 4
        AtTick(10);
        Assert.True(Out2);
    }

    [Fact]
    public void Mode3OnCounter0TogglesIrq0AtEachHalfPeriod()
    {
        Program(0, 3);
        WriteCount(0, 0); // 65536: the BIOS 18.2 Hz tick
        AtTick(65536 * 3 + 1);
        Assert.Equal(3, _irq.RisingEdges(0) - 1); // one rise at programming, then one per period
    }

    [Fact]
    public void LsbOnlyAndMsbOnlyAccess()
    {
        Program(0, 2, access: 1);
        _bus.Out8(0x40, 0x80); // count 0x0080
        AtTick(17);
        Assert.Equal(0x70, _bus.In8(0x40));
        Assert.Equal(0x70, _bus.In8(0x40)); // no flip-flop in LSB mode
        Program(1, 2, access: 2);
        _bus.Out8(0x41, 0x02); // count 0x0200
        Assert.Equal(0x02, _bus.In8(0x41));
    }

    [Fact]
    public void LatchHoldsTheCountUntilBothBytesAreReadAndIgnoresFurtherLatches()
    {
        Program(0, 2);
        WriteCount(0, 0x1234);
        AtTick(0x35);
        _bus.Out8(0x43, 0x00);
        AtTick(0x101);
        _bus.Out8(0x43, 0x00); // ignored: the first latch is unread
        Assert.Equal(0x00, _bus.In8(0x40));
        Assert.Equal(0x12, _bus.In8(0x40));
        Assert.Equal(0x1234 - 0x100, LatchAndRead(0)); // a new latch after the old one was read
    }

    [Fact]
    public void ReadBackLatchesStatusThenCount()
    {
        Program(2, 1); // mode 1: waits for a gate trigger, OUT high
        WriteCount(2, 300);
        _bus.Out8(0x43, 0xC8); // read-back count and status of counter 2
        Assert.Equal(0xC0 | 0x30 | 0x02, _bus.In8(0x42)); // OUT=1, NULL COUNT=1, RW=3, mode 1
        _bus.In8(0x42);
        _bus.In8(0x42);
        _bus.Out8(0x61, 0x01); // trigger: CR goes into the CE on the next CLK
        _bus.Out8(0x43, 0xE8);
        Assert.Equal(0x40, _bus.In8(0x42) & 0x40);
        AtTick(1);
        _bus.Out8(0x43, 0xE8); // status only
        Assert.Equal(0x30 | 0x02, _bus.In8(0x42)); // OUT low while counting, count loaded
        AtTick(301);
        _bus.Out8(0x43, 0xE8);
        Assert.Equal(0xB2, _bus.In8(0x42));
    }

    [Fact]
    public void BcdCountingUsesDecimalDigits()
    {
        Program(0, 2, bcd: true);
        WriteCount(0, 0x0100); // 100 decimal
        AtTick(2);
        Assert.Equal(0x0099, LatchAndRead(0));
        AtTick(92);
        Assert.Equal(0x0009, LatchAndRead(0));
    }

    [Fact]
    public void BcdZeroMeansTenThousand()
    {
        Program(0, 2, bcd: true);
        WriteCount(0, 0);
        AtTick(2);
        Assert.Equal(0x9999, LatchAndRead(0));
        int edges = _irq.RisingEdges(0);
        AtTick(10001);
        Assert.Equal(1, _irq.RisingEdges(0) - edges);
    }

    [Fact]
    public void GateLowSuspendsMode0Counting()
    {
        Program(2, 0);
        WriteCount(2, 100); // gate of counter 2 is low after reset
        AtTick(50);
        Assert.Equal(100, LatchAndRead(2));
        _bus.Out8(0x61, 0x01);
        AtTick(80);
        Assert.Equal(70, LatchAndRead(2));
        _bus.Out8(0x61, 0x00);
        AtTick(500);
        Assert.Equal(70, LatchAndRead(2));
        Assert.False(Out2);
    }

    [Fact]
    public void Mode1IsAOneShotStartedByTheGateAndRetriggerable()
    {
        Program(2, 1);
        WriteCount(2, 10);
        AtTick(100);
        Assert.True(Out2);
        _bus.Out8(0x61, 0x01);
        Assert.False(Out2);
        AtTick(105);
        _bus.Out8(0x61, 0x00);
        _bus.Out8(0x61, 0x01); // retrigger restarts the count
        AtTick(115);
        Assert.False(Out2);
        AtTick(116);
        Assert.True(Out2);
    }

    [Fact]
    public void Mode4StrobesOutLowForOneClockAfterTheCount()
    {
        Program(0, 4);
        WriteCount(0, 50);
        Assert.True(_irq.Level(0));
        int edges = _irq.RisingEdges(0);
        AtTick(49);
        Assert.Equal(edges, _irq.RisingEdges(0));
        AtTick(200);
        Assert.Equal(edges + 1, _irq.RisingEdges(0));
        Assert.True(_irq.Level(0));
        Assert.Equal(0, _clock.ArmedTimers);
    }

    [Fact]
    public void Mode5StrobeIsTriggeredByTheGate()
    {
        Program(2, 5);
        WriteCount(2, 20);
        AtTick(100);
        Assert.True(Out2);
        _bus.Out8(0x61, 0x01);
        AtTick(121);
        Assert.False(Out2); // the one-clock strobe
        AtTick(122);
        Assert.True(Out2);
    }

    [Fact]
    public void Mode2NewCountTakesEffectAtTheEndOfTheCurrentPeriod()
    {
        Program(0, 2);
        WriteCount(0, 1000);
        AtTick(201);
        WriteCount(0, 100);
        _bus.Out8(0x43, 0xE2); // status of counter 0: NULL COUNT until the reload
        Assert.Equal(0x40, _bus.In8(0x40) & 0x40);
        Assert.Equal(800, LatchAndRead(0));
        AtTick(1001);
        Assert.Equal(100, LatchAndRead(0));
        AtTick(1051);
        Assert.Equal(50, LatchAndRead(0));
        int edges = _irq.RisingEdges(0);
        AtTick(1101);
        Assert.Equal(edges + 1, _irq.RisingEdges(0));
    }

    [Fact]
    public void Mode2GateLowForcesOutHighAndRisingGateRestarts()
    {
        _bus.Out8(0x61, 0x01);
        Program(2, 2);
        WriteCount(2, 10);
        AtTick(10);
        Assert.False(Out2); // count 1: OUT low for one clock
        _bus.Out8(0x61, 0x00);
        Assert.True(Out2);
        AtTick(50);
        _bus.Out8(0x61, 0x01);
        Assert.Equal(10, LatchAndRead(2));
        AtTick(54);
        Assert.Equal(7, LatchAndRead(2));
    }

    [Fact]
    public void Port61KeepsControlBitsAndTogglesTheRefreshBit()
    {
        _bus.Out8(0x61, 0x03);
        Assert.Equal(0x03, _bus.In8(0x61) & 0x0F);
        Assert.True(_pit.GetGate(2));
        byte first = (byte)(_bus.In8(0x61) & 0x10);
        _clock.Advance(15_085);
        Assert.NotEqual(first, (byte)(_bus.In8(0x61) & 0x10));
    }

    [Fact]
    public void ResetLeavesCountersUnprogrammedAndPortBDropsGate2()
    {
        var portB = new SystemControlPortB(_pit, _clock);
        Program(0, 2);
        WriteCount(0, 100);
        _bus.Out8(0x61, 0x01);
        Assert.True(_pit.GetGate(2));
        _pit.Reset();
        portB.Reset();
        Assert.False(_pit.GetGate(2));
        Assert.Equal(0, _clock.ArmedTimers);
        Assert.False(_irq.Level(0)); // mode 0 state: OUT low until programmed
    }

    [Fact]
    public void Mode4StrobeComesNPlusOneClocksAfterTheWrite()
    {
        _bus.Out8(0x61, 0x01);
        Program(2, 4);
        WriteCount(2, 50);
        AtTick(50);
        Assert.True(Out2);
        AtTick(51);
        Assert.False(Out2);
        AtTick(52);
        Assert.True(Out2);
    }
}
