using Hypervisor.Devices.Acpi;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Tests.Acpi;

public class AcpiPmTests
{
    private const ushort Sts = 0x600, En = 0x602, Cnt = 0x604, Tmr = 0x608;
    private const long Second = 1_000_000_000;

    private readonly RecordingInterruptController _irq = new();
    private readonly RecordingVmControl _vm = new();
    private readonly ManualClock _clock = new();
    private readonly PortIoBus _bus = new();
    private readonly AcpiPm _pm;

    public AcpiPmTests()
    {
        _pm = new AcpiPm(AcpiPm.HvBasePort, _irq, _vm, _clock);
        _pm.RegisterPorts(_bus);
    }

    private bool Sci => _irq.Level(AcpiPm.DefaultSciIrq);

    /// <summary>First clock nanosecond at which the PM timer has counted <paramref name="ticks"/>.</summary>
    private static long AtTicks(long ticks) => (long)(((Int128)ticks * Second + 3_579_544) / 3_579_545);

    [Fact]
    public void HvBlockAddressesAreTheOnesTheFadtUses()
    {
        Assert.Equal(0x600, AcpiPm.HvPm1aEventBlock);
        Assert.Equal(0x604, AcpiPm.HvPm1aControlBlock);
        Assert.Equal(0x608, AcpiPm.HvPmTimerBlock);
        Assert.Equal(AcpiPm.HvPm1aControlBlock, _pm.Pm1aControlBlock);
        var other = new AcpiPm(0xB000, _irq, _vm, _clock);
        Assert.Equal(0xB008, other.PmTimerBlock);
    }

    [Fact]
    public void PmTimerCountsAt3579545HzIn24Bits()
    {
        Assert.Equal(0u, _bus.In32(Tmr));
        _clock.AdvanceTo(Second);
        Assert.Equal(3_579_545u, _bus.In32(Tmr));
        _clock.AdvanceTo(AtTicks((1 << 24) + 10));
        Assert.Equal(10u, _bus.In32(Tmr));
        Assert.Equal(10, _bus.In8(Tmr));
    }

    [Fact]
    public void TimerStatusSetsWhenBit23TogglesAndClearsByWritingOne()
    {
        _clock.AdvanceTo(AtTicks((1 << 23) - 1));
        Assert.Equal(0, _bus.In16(Sts) & 1);
        _clock.AdvanceTo(AtTicks(1 << 23));
        Assert.Equal(1, _bus.In16(Sts) & 1);
        _bus.Out16(Sts, 0x0000);
        Assert.Equal(1, _bus.In16(Sts) & 1);
        _bus.Out16(Sts, 0x0001);
        Assert.Equal(0, _bus.In16(Sts) & 1);
        _clock.AdvanceTo(AtTicks(1 << 24));
        Assert.Equal(1, _bus.In16(Sts) & 1); // bit 23 toggled again (1 -> 0)
    }

    [Fact]
    public void TimerEnableRaisesSciAtTheNextToggleFromATimer()
    {
        _bus.Out16(En, AcpiPm.TmrStatus);
        Assert.False(Sci);
        Assert.Equal(1, _clock.ArmedTimers);
        _clock.AdvanceTo(AtTicks(1 << 23) - 1);
        Assert.False(Sci);
        _clock.AdvanceTo(AtTicks(1 << 23));
        Assert.True(Sci);
        _bus.Out16(Sts, AcpiPm.TmrStatus);
        Assert.False(Sci);
    }

    [Fact]
    public void NoSciWithoutSciEnable()
    {
        _bus.Out16(Cnt, 0x0000);
        _bus.Out16(En, AcpiPm.PwrbtnStatus);
        _pm.PressPowerButton();
        Assert.False(Sci);
        Assert.Equal(AcpiPm.PwrbtnStatus, _bus.In16(Sts) & AcpiPm.PwrbtnStatus);
        _bus.Out16(Cnt, AcpiPm.SciEnable);
        Assert.True(Sci);
    }

    [Fact]
    public void PowerButtonRaisesSciWhenEnabledAndIsClearedByWritingOne()
    {
        _pm.PressPowerButton();
        Assert.False(Sci); // PWRBTN_EN clear
        _bus.Out16(En, AcpiPm.PwrbtnStatus);
        Assert.True(Sci);
        _bus.Out16(Sts, AcpiPm.PwrbtnStatus);
        Assert.False(Sci);
        Assert.Equal(0, _bus.In16(Sts) & AcpiPm.PwrbtnStatus);
    }

    [Fact]
    public void SleepEnableWithS5TypePowersOff()
    {
        _bus.Out16(Cnt, (ushort)(AcpiPm.S5SleepType << 10 | AcpiPm.SciEnable));
        Assert.Empty(_vm.Requests); // SLP_TYP alone does nothing
        _bus.Out16(Cnt, (ushort)(AcpiPm.S5SleepType << 10 | AcpiPm.SleepEnable | AcpiPm.SciEnable));
        var request = Assert.Single(_vm.Requests);
        Assert.Equal(VmStopReason.PowerOff, request.Reason);
        Assert.Equal(0, request.ExitStatus);
    }

    [Fact]
    public void SleepEnableWithAnUndeclaredTypeDoesNothing()
    {
        _bus.Out16(Cnt, (ushort)(1 << 10 | AcpiPm.SleepEnable | AcpiPm.SciEnable));
        Assert.Empty(_vm.Requests);
    }

    [Fact]
    public void ControlRegisterReadsBackWithoutWriteOnlyBits()
    {
        Assert.Equal(AcpiPm.SciEnable, _bus.In16(Cnt)); // ACPI mode from reset: no SMI_CMD in the FADT
        _bus.Out16(Cnt, (ushort)(3 << 10 | AcpiPm.SciEnable | AcpiPm.GblRelease | AcpiPm.BmReload));
        Assert.Equal(3 << 10 | AcpiPm.SciEnable | AcpiPm.BmReload, _bus.In16(Cnt));
    }

    [Fact]
    public void EnableRegisterKeepsOnlyDefinedBits()
    {
        _bus.Out16(En, 0xFFFF);
        Assert.Equal(0x4721, _bus.In16(En));
    }

    [Fact]
    public void A32BitWriteToTheEventBlockClearsStatusAndSetsEnable()
    {
        _pm.PressPowerButton();
        _bus.Out32(Sts, (uint)AcpiPm.PwrbtnStatus << 16 | AcpiPm.PwrbtnStatus);
        Assert.Equal((uint)AcpiPm.PwrbtnStatus << 16, _bus.In32(Sts));
        Assert.False(Sci);
    }
}
