using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Legacy;

public class CmosRtcTests
{
    private const long Second = 1_000_000_000;

    // A leap day, Thursday, two seconds before midnight.
    private static readonly DateTimeOffset Start = new(2024, 2, 29, 23, 59, 58, TimeSpan.Zero);

    private readonly RecordingInterruptController _irq = new();
    private readonly ManualClock _clock = new();
    private readonly PortIoBus _bus = new();
    private readonly CmosRtc _rtc;

    public CmosRtcTests()
    {
        _rtc = new CmosRtc(_irq, _clock, Start);
        _rtc.RegisterPorts(_bus);
    }

    private byte Get(int index)
    {
        _bus.Out8(0x70, (byte)index);
        return _bus.In8(0x71);
    }

    private void Set(int index, byte value)
    {
        _bus.Out8(0x70, (byte)index);
        _bus.Out8(0x71, value);
    }

    private bool Irq8 => _irq.Level(CmosRtc.Irq);

    [Fact]
    public void TimeRegistersReadHostTimeInBcd24Hour()
    {
        Assert.Equal(0x58, Get(0));
        Assert.Equal(0x59, Get(2));
        Assert.Equal(0x23, Get(4));
        Assert.Equal(5, Get(6)); // Thursday; Sunday is 1
        Assert.Equal(0x29, Get(7));
        Assert.Equal(0x02, Get(8));
        Assert.Equal(0x24, Get(9));
        Assert.Equal(0x20, Get(0x32));
        Assert.Equal(0x26, Get(0x0A));
        Assert.Equal(0x02, Get(0x0B));
        Assert.Equal(0x80, Get(0x0D)); // valid RAM and time
    }

    [Fact]
    public void TimeAdvancesWithTheVirtualClockAcrossDayAndMonth()
    {
        _clock.Advance(2 * Second);
        Assert.Equal(0x00, Get(0));
        Assert.Equal(0x00, Get(4));
        Assert.Equal(6, Get(6));
        Assert.Equal(0x01, Get(7));
        Assert.Equal(0x03, Get(8));
    }

    [Fact]
    public void BinaryModeAndTwelveHourModeChangeTheEncoding()
    {
        Set(0x0B, 0x04); // binary, 12-hour
        Assert.Equal(58, Get(0));
        Assert.Equal(0x80 | 11, Get(4)); // 11 PM
        Set(0x0B, 0x00); // BCD, 12-hour
        Assert.Equal(0x91, Get(4));
        _clock.Advance(2 * Second);
        Assert.Equal(0x12, Get(4)); // midnight is 12 AM
        Set(0x0B, 0x06); // binary, 24-hour
        Assert.Equal(0, Get(4));
    }

    [Fact]
    public void SetBitFreezesTheClockAndTheWrittenTimeRunsAfterwards()
    {
        Set(0x0B, 0x82);
        Set(0, 0x30);
        Set(2, 0x15);
        Set(4, 0x10);
        Set(7, 0x01);
        Set(8, 0x01);
        Set(9, 0x99);
        Set(0x32, 0x19);
        _clock.Advance(5 * Second);
        Assert.Equal(0x30, Get(0)); // no updates while SET
        Set(0x0B, 0x02);
        _clock.Advance(3 * Second);
        Assert.Equal(0x33, Get(0));
        Assert.Equal(new DateTimeOffset(1999, 1, 1, 10, 15, 33, TimeSpan.Zero), _rtc.GuestTime);
    }

    [Fact]
    public void PeriodicInterruptAtTheRegisterARateUntilRegisterCIsRead()
    {
        Set(0x0B, 0x42); // PIE
        Assert.False(Irq8);
        _clock.Advance(976_562); // 1024 Hz: 976.5625 us
        Assert.False(Irq8);
        _clock.Advance(1);
        Assert.True(Irq8);
        Assert.Equal(0xC0, Get(0x0C)); // IRQF | PF
        Assert.False(Irq8);
        Assert.Equal(0x00, Get(0x0C));
        _clock.Advance(976_563);
        Assert.True(Irq8);
    }

    [Fact]
    public void RateSelectChangesThePeriod()
    {
        Set(0x0A, 0x2F); // 2 Hz
        Set(0x0B, 0x42);
        _clock.Advance(Second / 2 - 1);
        Assert.False(Irq8);
        _clock.Advance(1);
        Assert.True(Irq8);
    }

    [Fact]
    public void FlagsAreSetWithoutTheirEnablesButDoNotInterrupt()
    {
        _clock.Advance(Second + Second / 100);
        Assert.False(Irq8);
        Assert.Equal(0x50, Get(0x0C)); // PF and UF, no IRQF
        Assert.Equal(0, _clock.ArmedTimers);
    }

    [Fact]
    public void UpdateEndedInterruptEverySecond()
    {
        Set(0x0B, 0x12); // UIE
        _clock.Advance(Second - 1);
        Assert.False(Irq8);
        _clock.Advance(1);
        Assert.True(Irq8);
        Assert.Equal(0x90, Get(0x0C) & 0xF0 & ~0x40);
        Assert.False(Irq8);
    }

    [Fact]
    public void AlarmInterruptWhenTimeMatchesTheAlarmRegisters()
    {
        Set(1, 0x05);
        Set(3, 0x00);
        Set(5, 0x00); // 00:00:05
        Set(0x0B, 0x22); // AIE
        _clock.Advance(7 * Second - 1);
        Assert.False(Irq8);
        _clock.Advance(1);
        Assert.True(Irq8);
        Assert.Equal(0xA0, Get(0x0C) & 0xA0);
    }

    [Fact]
    public void AlarmDontCareBytesMatchEverySecond()
    {
        Set(1, 0xC0);
        Set(3, 0xFF);
        Set(5, 0xC0);
        Set(0x0B, 0x22);
        _clock.Advance(Second);
        Assert.True(Irq8);
        Get(0x0C);
        _clock.Advance(Second);
        Assert.True(Irq8);
    }

    [Fact]
    public void UpdateInProgressIsSetInTheLast244MicrosecondsOfEachSecond()
    {
        _clock.Advance(Second - 244_141);
        Assert.Equal(0, Get(0x0A) & 0x80);
        _clock.Advance(1);
        Assert.Equal(0x80, Get(0x0A) & 0x80);
        _clock.Advance(244_140);
        Assert.Equal(0, Get(0x0A) & 0x80);
    }

    [Fact]
    public void SettingSetClearsUie()
    {
        Set(0x0B, 0x12);
        Set(0x0B, 0x92);
        Assert.Equal(0x82, Get(0x0B));
    }

    [Fact]
    public void DividerResetHoldsTimeAndTheFirstUpdateComesHalfASecondAfterRelease()
    {
        Set(0x0A, 0x66); // divider chain in reset
        _clock.Advance(10 * Second);
        Assert.Equal(0x58, Get(0));
        Set(0x0A, 0x26);
        _clock.Advance(Second / 2 - 1);
        Assert.Equal(0x58, Get(0));
        _clock.Advance(1);
        Assert.Equal(0x59, Get(0));
    }

    [Fact]
    public void IndexPortBit7MasksNmi()
    {
        Assert.True(_rtc.NmiEnabled);
        _bus.Out8(0x70, 0x8F);
        Assert.False(_rtc.NmiEnabled);
        _bus.Out8(0x70, 0x0F);
        Assert.True(_rtc.NmiEnabled);
    }

    [Fact]
    public void NvramBytesHoldWhatIsWritten()
    {
        Set(0x40, 0xA5);
        Set(0x7F, 0x5A);
        Assert.Equal(0xA5, Get(0x40));
        Assert.Equal(0x5A, Get(0x7F));
        Assert.Equal(0xA5, Get(0xC0)); // NMI bit is not part of the index
    }

    [Fact]
    public void MemorySizeBytesFollowThePcConvention()
    {
        _rtc.SetMemorySizes(3UL << 30, 1UL << 30);
        Assert.Equal(640, Get(0x15) | Get(0x16) << 8);
        Assert.Equal(0xFFFF, Get(0x17) | Get(0x18) << 8);
        Assert.Equal(0xFFFF, Get(0x30) | Get(0x31) << 8);
        Assert.Equal(49152 - 256, Get(0x34) | Get(0x35) << 8); // (3 GiB - 16 MiB) / 64 KiB
        Assert.Equal(0x4000, Get(0x5B) | Get(0x5C) << 8 | Get(0x5D) << 16);

        _rtc.SetMemorySizes(32UL << 20, 0);
        Assert.Equal(31 * 1024, Get(0x17) | Get(0x18) << 8);
        Assert.Equal(16 * 16, Get(0x34) | Get(0x35) << 8);
        Assert.Equal(0, Get(0x5B) | Get(0x5C) << 8 | Get(0x5D) << 16);
    }

    [Fact]
    public void ChecksumCoversBytes10To2DBigEndian()
    {
        _rtc.SetByte(0x10, 0x40);
        _rtc.SetMemorySizes(64UL << 20, 0);
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += Get(i);
        Assert.NotEqual(0, sum);
        Assert.Equal(sum, Get(0x2E) << 8 | Get(0x2F));
    }

    [Fact]
    public void DayOfWeekIsCountedFromWhatTheGuestWrote()
    {
        Set(0x0B, 0x82);
        Set(6, 0x02); // guest claims Monday
        Set(0x0B, 0x02);
        _clock.Advance(2 * Second); // next day
        Assert.Equal(0x03, Get(6));
    }

    [Fact]
    public void RegisterCAndDIgnoreWrites()
    {
        Set(0x0C, 0xFF);
        Set(0x0D, 0x00);
        Assert.Equal(0x00, Get(0x0C));
        Assert.Equal(0x80, Get(0x0D));
    }

    [Fact]
    public void ResetPinClearsInterruptEnablesAndFlagsButKeepsTimeAndRam()
    {
        Set(0x40, 0x77);
        Set(0x0B, 0x7A); // PIE AIE UIE SQWE, 24h
        _clock.Advance(Second);
        Assert.True(Irq8);
        _rtc.Reset();
        Assert.False(Irq8);
        Assert.Equal(0x02, Get(0x0B));
        Assert.Equal(0x00, Get(0x0C));
        Assert.Equal(0x59, Get(0));
        Assert.Equal(0x77, Get(0x40));
    }
}
