using Hypervisor.Devices.Interrupts;
using Hypervisor.Devices.Tests.Fakes;

namespace Hypervisor.Devices.Tests.Interrupts;

/// <summary>IPIs between the LAPICs of a <see cref="UserspaceIrqChip"/>: the ICR, destinations, INIT/SIPI.</summary>
public class LapicIpiTests : IDisposable
{
    private readonly ManualClock _clock = new();
    private readonly UserspaceIrqChip _chip;

    public LapicIpiTests()
    {
        _chip = new UserspaceIrqChip(_clock, vcpuCount: 4, tscFrequencyHz: 1_000_000_000);
        for (int i = 0; i < 4; i++) Apic(i).WriteRegister(LapicOffsets.Svr, 0x1FF);
    }

    public void Dispose() => _chip.Dispose();

    private Lapic Apic(int vcpu) => _chip.LapicFor(vcpu);

    private void SendIpi(int from, uint icrLow, byte destination = 0)
    {
        Apic(from).WriteRegister(LapicOffsets.IcrHigh, (uint)destination << 24);
        Apic(from).WriteRegister(LapicOffsets.IcrLow, icrLow);
    }

    private static bool Irr(Lapic lapic, int vector) =>
        ((lapic.ReadRegister(LapicOffsets.Irr + (vector >> 5) * 16) >> (vector & 31)) & 1) != 0;

    private int[] Receivers(int vector) => Enumerable.Range(0, 4).Where(i => Irr(Apic(i), vector)).ToArray();

    [Fact]
    public void FixedPhysicalIpi_ReachesOnlyTheTarget()
    {
        SendIpi(0, 0x4050, destination: 1);
        Assert.Equal([1], Receivers(0x50));
        Assert.True(_chip.PortFor(1).HasPendingInterrupt);
        Assert.Equal(0x50, _chip.PortFor(1).AcknowledgeInterrupt());

        SendIpi(2, 0x4051, destination: 0xFF); // physical broadcast
        Assert.Equal([0, 1, 2, 3], Receivers(0x51));
    }

    [Fact]
    public void LogicalFlat_MatchesLdrBits()
    {
        for (int i = 0; i < 4; i++) Apic(i).WriteRegister(LapicOffsets.Ldr, (1u << i) << 24);
        SendIpi(0, 0x4852, destination: 0b0101);
        Assert.Equal([0, 2], Receivers(0x52));
    }

    [Fact]
    public void LogicalCluster_MatchesClusterAndMemberBits()
    {
        uint[] ldr = [0x11, 0x12, 0x21, 0x14];
        for (int i = 0; i < 4; i++)
        {
            Apic(i).WriteRegister(LapicOffsets.Dfr, 0x0FFF_FFFF);
            Apic(i).WriteRegister(LapicOffsets.Ldr, ldr[i] << 24);
        }
        SendIpi(3, 0x4853, destination: 0x13);
        Assert.Equal([0, 1], Receivers(0x53));
        SendIpi(3, 0x4854, destination: 0x21);
        Assert.Equal([2], Receivers(0x54));
    }

    [Fact]
    public void Shorthands_SelfAllIncludingAllExcluding()
    {
        SendIpi(2, 0x0004_4060, destination: 0); // self: the destination field is ignored
        Assert.Equal([2], Receivers(0x60));
        SendIpi(1, 0x0008_4061);
        Assert.Equal([0, 1, 2, 3], Receivers(0x61));
        SendIpi(1, 0x000C_4062);
        Assert.Equal([0, 2, 3], Receivers(0x62));
    }

    [Fact]
    public void LowestPriority_GoesToTheApicWithLowestPriority()
    {
        for (int i = 0; i < 4; i++)
        {
            Apic(i).WriteRegister(LapicOffsets.Ldr, (1u << i) << 24);
            Apic(i).WriteRegister(LapicOffsets.Tpr, 0x40);
        }
        Apic(3).WriteRegister(LapicOffsets.Tpr, 0x10);
        SendIpi(0, 0x4963, destination: 0x0F);
        Assert.Equal([3], Receivers(0x63));

        // Focus: an APIC already holding the vector takes it again, whatever its priority.
        Apic(1).AcceptMessage(new ApicMessage(0x64, ApicDeliveryMode.Fixed, false, 1));
        Assert.Equal(0x64, Apic(1).Acknowledge());
        Apic(1).WriteRegister(LapicOffsets.Tpr, 0xE0);
        SendIpi(0, 0x4964, destination: 0x0F);
        Assert.Equal([1], Receivers(0x64));
    }

    [Fact]
    public void Nmi_ReachesTheTargetPort()
    {
        SendIpi(0, 0x4400, destination: 2);
        Assert.True(_chip.PortFor(2).TakeNmi());
        Assert.False(_chip.PortFor(2).TakeNmi());
        Assert.False(_chip.PortFor(1).TakeNmi());
    }

    [Fact]
    public void InitSipiSipi_StartsTheApplicationProcessor()
    {
        var ap = _chip.PortFor(1);
        Assert.True(ap.IsWaitingForSipi);
        Assert.False(_chip.PortFor(0).IsWaitingForSipi);
        Apic(1).WriteRegister(LapicOffsets.Tpr, 0x30);

        SendIpi(0, 0xC500, destination: 1); // INIT assert, level
        SendIpi(0, 0x8500, destination: 1); // INIT de-assert: no effect
        Assert.True(ap.WaitForEvent(interruptsEnabled: false, TimeSpan.Zero));
        Assert.True(ap.TakeInit());
        Assert.False(ap.TakeInit());
        Assert.True(ap.IsWaitingForSipi);
        Assert.Equal(0u, Apic(1).ReadRegister(LapicOffsets.Tpr)); // INIT reset the APIC
        Assert.Equal(0xFFu, Apic(1).ReadRegister(LapicOffsets.Svr));
        Assert.Equal(0x0100_0000u, Apic(1).ReadRegister(LapicOffsets.Id)); // but kept its ID

        SendIpi(0, 0x469A, destination: 1); // start-up, vector 0x9A
        Assert.Equal(0x9A, ap.TakeSipi());
        Assert.False(ap.IsWaitingForSipi);
        SendIpi(0, 0x469B, destination: 1); // the second SIPI of the sequence is ignored
        Assert.Null(ap.TakeSipi());
    }

    [Fact]
    public void InitToTheBsp_DoesNotWaitForSipi()
    {
        SendIpi(1, 0xC500, destination: 0);
        Assert.True(_chip.PortFor(0).TakeInit());
        Assert.False(_chip.PortFor(0).IsWaitingForSipi);
        SendIpi(1, 0x4610, destination: 0);
        Assert.Null(_chip.PortFor(0).TakeSipi());
    }

    [Fact]
    public void SipiWhileRunning_IsIgnored()
    {
        SendIpi(0, 0x4610, destination: 1); // AP waits since power-up: taken
        Assert.Equal(0x10, _chip.PortFor(1).TakeSipi());
        SendIpi(0, 0x4611, destination: 1);
        Assert.Null(_chip.PortFor(1).TakeSipi());
        Assert.False(_chip.PortFor(1).WaitForEvent(interruptsEnabled: true, TimeSpan.Zero));
    }

    [Fact]
    public async Task IpiFromAnotherThread_WakesAHaltedVcpu()
    {
        var port = _chip.PortFor(3);
        Assert.False(port.WaitForEvent(interruptsEnabled: true, TimeSpan.FromMilliseconds(1)));
        var waiter = Task.Run(() => port.WaitForEvent(interruptsEnabled: true, TimeSpan.FromSeconds(30)));
        await Task.Delay(20);
        SendIpi(0, 0x4070, destination: 3);
        Assert.True(await waiter.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void InterruptWithIfClear_DoesNotEndHalt_ButNmiDoes()
    {
        var port = _chip.PortFor(2);
        SendIpi(0, 0x4071, destination: 2);
        Assert.False(port.WaitForEvent(interruptsEnabled: false, TimeSpan.FromMilliseconds(1)));
        Assert.True(port.WaitForEvent(interruptsEnabled: true, TimeSpan.Zero));
        SendIpi(0, 0x4400, destination: 2);
        Assert.True(port.WaitForEvent(interruptsEnabled: false, TimeSpan.Zero));
    }

    [Fact]
    public async Task Kick_EndsTheWaitWithoutAnEvent()
    {
        var port = _chip.PortFor(1);
        port.Kick(); // a kick before the wait is not lost
        Assert.False(port.WaitForEvent(interruptsEnabled: true, TimeSpan.FromSeconds(30)));
        var waiter = Task.Run(() => port.WaitForEvent(interruptsEnabled: true, TimeSpan.FromSeconds(30)));
        await Task.Delay(20);
        port.Kick();
        Assert.False(await waiter.WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
