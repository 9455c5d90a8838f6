using Hypervisor.Devices.Interrupts;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Interrupts;

/// <summary>The whole chip as a guest drives it: PIC, IOAPIC and LAPICs through their real registers.</summary>
public class UserspaceIrqChipTests : IDisposable
{
    private readonly ManualClock _clock = new();
    private readonly PortIoBus _ports = new();
    private readonly MmioBus _mmio = new();
    private readonly UserspaceIrqChip _chip;

    public UserspaceIrqChipTests()
    {
        _chip = new UserspaceIrqChip(_clock, vcpuCount: 2, tscFrequencyHz: 1_000_000_000);
        _chip.RegisterDevices(_ports, _mmio);
    }

    public void Dispose() => _chip.Dispose();

    private ICpuInterruptPort Bsp => _chip.PortFor(0);

    /// <summary>The BIOS's 8259 setup: vectors 0x08 and 0x70, cascade on IR2.</summary>
    private void InitPic(byte masterBase = 0x08, byte slaveBase = 0x70)
    {
        _ports.Out8(0x20, 0x11);
        _ports.Out8(0x21, masterBase);
        _ports.Out8(0x21, 0x04);
        _ports.Out8(0x21, 0x01);
        _ports.Out8(0xA0, 0x11);
        _ports.Out8(0xA1, slaveBase);
        _ports.Out8(0xA1, 0x02);
        _ports.Out8(0xA1, 0x01);
    }

    private void WriteIoApicEntry(int pin, ulong entry)
    {
        WriteMmio(IoApic.DefaultBaseAddress, (uint)(0x11 + 2 * pin));
        WriteMmio(IoApic.DefaultBaseAddress + 0x10, (uint)(entry >> 32));
        WriteMmio(IoApic.DefaultBaseAddress, (uint)(0x10 + 2 * pin));
        WriteMmio(IoApic.DefaultBaseAddress + 0x10, (uint)entry);
    }

    private void WriteMmio(ulong address, uint value) => _mmio.Write(address, BitConverter.GetBytes(value));

    private void WriteLapic(int vcpu, int offset, uint value) =>
        Assert.True(_chip.LapicFor(vcpu).TryWrite(Lapic.DefaultBaseAddress + (ulong)offset, BitConverter.GetBytes(value)));

    /// <summary>What Linux does when it switches to APIC mode: APIC on, LINT0 masked, the PIC fully masked.</summary>
    private void SwitchToIoApicMode()
    {
        WriteLapic(0, LapicOffsets.Svr, 0x1FF);
        WriteLapic(0, LapicOffsets.LvtLint0, 0x1_0700);
        _ports.Out8(0x21, 0xFF);
        _ports.Out8(0xA1, 0xFF);
    }

    private void Eoi(int vcpu) => WriteLapic(vcpu, LapicOffsets.Eoi, 0);

    [Fact]
    public void IsaIrq_ReachesTheBspThroughThePicBeforeTheApicIsSetUp()
    {
        InitPic();
        _chip.SetIrq(4, true);
        Assert.True(Bsp.HasPendingInterrupt);
        Assert.False(_chip.PortFor(1).HasPendingInterrupt); // APs' LINT0 is masked
        Assert.Equal(0x0C, Bsp.AcknowledgeInterrupt());
        _chip.SetIrq(4, false);
        Assert.False(Bsp.HasPendingInterrupt);

        _chip.PulseIrq(12); // slave, through the cascade
        Assert.Equal(0x74, Bsp.AcknowledgeInterrupt());
    }

    [Fact]
    public void IsaIrq_GoesThroughTheIoApicOnceProgrammed()
    {
        InitPic();
        SwitchToIoApicMode();
        WriteIoApicEntry(4, 0x0000_0000_0000_0034); // edge, fixed, physical APIC 0, vector 0x34
        _chip.PulseIrq(4);
        Assert.True(Bsp.HasPendingInterrupt);
        Assert.Equal(0x34, Bsp.AcknowledgeInterrupt());
        Assert.False(Bsp.HasPendingInterrupt); // nothing came through the PIC
        Eoi(0);

        // IRQ0 (the PIT) arrives on pin 2, per the MADT override; pin 0 is not wired.
        WriteIoApicEntry(0, 0x0000_0000_0000_0030);
        WriteIoApicEntry(2, 0x0000_0000_0000_0031);
        _chip.PulseIrq(0);
        Assert.Equal(0x31, Bsp.AcknowledgeInterrupt());
        Assert.False(Bsp.HasPendingInterrupt);
    }

    [Fact]
    public void PciGsi_LevelLoopThroughIoApicAndLapicEoi()
    {
        SwitchToIoApicMode();
        WriteIoApicEntry(17, 0x0100_0000_0000_A051); // level, active low, vector 0x51, APIC 1
        WriteLapic(1, LapicOffsets.Svr, 0x1FF);
        var ap = _chip.PortFor(1);

        _chip.SetIrq(17, true);
        Assert.False(Bsp.HasPendingInterrupt);
        Assert.Equal(0x51, ap.AcknowledgeInterrupt());
        Eoi(1); // the device still asserts: delivered again
        Assert.True(ap.HasPendingInterrupt);
        Assert.Equal(0x51, ap.AcknowledgeInterrupt());

        _chip.SetIrq(17, false);
        Eoi(1);
        Assert.False(ap.HasPendingInterrupt);
        Assert.Equal(0UL, _chip.IoApic.RedirectionEntry(17) & (1UL << 14));
        Assert.False(_chip.Pic.HasInterrupt); // GSIs above 15 never touch the PIC
    }

    [Fact]
    public void ApicGloballyDisabled_PicInterruptGoesStraightToTheCpu()
    {
        InitPic();
        WriteLapic(0, LapicOffsets.LvtLint0, 0x1_0700); // even with LINT0 masked
        Assert.True(_chip.LapicFor(0).TryWriteApicBase(0xFEE0_0100));
        _chip.PulseIrq(3);
        Assert.True(Bsp.HasPendingInterrupt);
        Assert.Equal(0x0B, Bsp.AcknowledgeInterrupt());
        Assert.False(_chip.LapicFor(0).TryWrite(Lapic.DefaultBaseAddress + LapicOffsets.Tpr, new byte[4]));
    }

    [Fact]
    public void PicInterrupt_WakesAHaltedBsp()
    {
        InitPic();
        Assert.False(Bsp.WaitForEvent(interruptsEnabled: true, TimeSpan.Zero));
        _chip.PulseIrq(1);
        Assert.True(Bsp.WakeHandle.WaitOne(0));
        Assert.True(Bsp.WaitForEvent(interruptsEnabled: true, TimeSpan.Zero));
    }

    [Fact]
    public void TimerExpiry_WakesTheVcpu()
    {
        WriteLapic(0, LapicOffsets.Svr, 0x1FF);
        WriteLapic(0, LapicOffsets.LvtTimer, 0xEC);
        WriteLapic(0, LapicOffsets.InitialCount, 500);
        Assert.False(Bsp.WaitForEvent(interruptsEnabled: true, TimeSpan.Zero));
        _clock.Advance(500 * 2); // default divider: 2
        Assert.True(Bsp.WakeHandle.WaitOne(0));
        Assert.Equal(0xEC, Bsp.AcknowledgeInterrupt());
    }

    [Theory]
    [InlineData(0xFEE0_1000UL, 0x0000_4041u, 0x41, ApicDeliveryMode.Fixed, false, 1, false)]
    [InlineData(0xFEE0_300CUL, 0x0000_8142u, 0x42, ApicDeliveryMode.LowestPriority, true, 3, true)]
    [InlineData(0xFEE0_2008UL, 0x0000_0043u, 0x43, ApicDeliveryMode.LowestPriority, false, 2, false)]
    [InlineData(0xFEEF_F000UL, 0x0000_0400u, 0x00, ApicDeliveryMode.Nmi, false, 0xFF, false)]
    public void MsiDecode_FollowsSdm1111(ulong address, uint data, byte vector, ApicDeliveryMode mode, bool logical,
        byte destination, bool level)
    {
        Assert.True(ApicMessage.TryDecodeMsi(address, data, out var m));
        Assert.Equal(new ApicMessage(vector, mode, logical, destination, level), m);
    }

    [Fact]
    public void MsiDecode_RejectsWritesOutsideTheInterruptWindow()
    {
        Assert.False(ApicMessage.TryDecodeMsi(0xFED0_0000, 0x41, out _));
        Assert.False(ApicMessage.TryDecodeMsi(0x1_FEE0_0000, 0x41, out _));
    }

    [Fact]
    public void SendMsi_DeliversToTheAddressedApic()
    {
        WriteLapic(1, LapicOffsets.Svr, 0x1FF);
        _chip.SendMsi(0xFEE0_1000, 0x4061);
        Assert.Equal(0x61, _chip.PortFor(1).AcknowledgeInterrupt());
        _chip.SendMsi(0xFEE0_1000, 0x0400); // NMI
        Assert.True(_chip.PortFor(1).TakeNmi());
        _chip.SendMsi(0xFEC0_1000, 0x4062); // not an MSI address
        Assert.False(_chip.PortFor(1).HasPendingInterrupt);
    }

    [Fact]
    public void SetIrq_RejectsGsisBeyondTheIoApic() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _chip.SetIrq(24, true));

    [Fact]
    public void SaveRestore_MovesAVcpuToAnotherChip()
    {
        WriteLapic(1, LapicOffsets.Svr, 0x1FF);
        WriteLapic(1, LapicOffsets.LvtTimer, 0xEC | (1u << 17));
        WriteLapic(1, LapicOffsets.DivideConfig, 0xB);
        WriteLapic(1, LapicOffsets.InitialCount, 300_000);
        _chip.SendMsi(0xFEE0_1000, 0x4061);
        _clock.Advance(100_000);
        var state = CpuState.CreateReset();
        _chip.LapicFor(1).SaveState(state);
        Assert.Equal(RunState.WaitForSipi, state.RunState); // the AP never got its SIPI

        using var other = new UserspaceIrqChip(_clock, vcpuCount: 2, tscFrequencyHz: 1_000_000_000);
        var lapic = other.LapicFor(1);
        lapic.RestoreState(state);
        Assert.True(other.PortFor(1).IsWaitingForSipi);
        var copy = CpuState.CreateReset();
        lapic.SaveState(copy);
        Assert.Equal(state.LapicRegisters, copy.LapicRegisters);
        Assert.Equal(state.ApicBase, copy.ApicBase);

        Assert.Equal(0x61, other.PortFor(1).AcknowledgeInterrupt());
        other.LapicFor(1).WriteRegister(LapicOffsets.Eoi, 0);
        _clock.Advance(200_000); // the periodic timer resumes: 200 us were left
        Assert.Equal(0xEC, other.PortFor(1).AcknowledgeInterrupt());
    }

    [Fact]
    public void Reset_ReturnsEveryPartToPowerUp()
    {
        InitPic();
        SwitchToIoApicMode();
        WriteIoApicEntry(5, 0x35);
        _chip.SendMsi(0xFEE0_0000, 0x4066);
        _chip.Reset();
        Assert.Equal(0x1_0000UL, _chip.IoApic.RedirectionEntry(5));
        Assert.Equal(0xFFu, _chip.LapicFor(0).ReadRegister(LapicOffsets.Svr));
        Assert.False(Bsp.HasPendingInterrupt);
        Assert.True(_chip.PortFor(1).IsWaitingForSipi);
        Assert.True(_chip.LapicFor(0).AcceptsPicInterrupt);
    }
}
