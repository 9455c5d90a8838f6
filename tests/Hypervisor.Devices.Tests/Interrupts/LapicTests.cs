using Hypervisor.Devices.Interrupts;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Time;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.Devices.Tests.Interrupts;

public class LapicTests : IDisposable
{
    private readonly ManualClock _clock = new();
    private readonly RecordingApicBus _bus = new();
    private readonly Lapic _lapic;
    private int _wakeups;

    public LapicTests()
    {
        _lapic = NewLapic(_bus, isBsp: true);
        _lapic.Wakeup += () => _wakeups++;
    }

    public void Dispose() => _lapic.Dispose();

    private Lapic NewLapic(IApicBus bus, bool isBsp) =>
        new(apicId: 2, isBsp, _clock, new GuestTsc(_clock, 1_000_000_000), bus);

    private void Enable(uint vector = 0xFF) => _lapic.WriteRegister(LapicOffsets.Svr, 0x100 | vector);

    private bool Fixed(byte vector, bool level = false) =>
        _lapic.AcceptMessage(new ApicMessage(vector, ApicDeliveryMode.Fixed, false, 2, level));

    private static bool Bit(Lapic lapic, int bank, int vector) =>
        ((lapic.ReadRegister(bank + (vector >> 5) * 16) >> (vector & 31)) & 1) != 0;

    private bool Irr(int vector) => Bit(_lapic, LapicOffsets.Irr, vector);
    private bool Isr(int vector) => Bit(_lapic, LapicOffsets.Isr, vector);
    private bool Tmr(int vector) => Bit(_lapic, LapicOffsets.Tmr, vector);

    private void Eoi() => _lapic.WriteRegister(LapicOffsets.Eoi, 0);

    [Fact]
    public void PowerOnState_MatchesSdm()
    {
        Assert.Equal(0x0200_0000u, _lapic.ReadRegister(LapicOffsets.Id));
        Assert.Equal(0x0005_0014u, _lapic.ReadRegister(LapicOffsets.Version));
        Assert.Equal(0xFFu, _lapic.ReadRegister(LapicOffsets.Svr));
        Assert.Equal(0xFFFF_FFFFu, _lapic.ReadRegister(LapicOffsets.Dfr));
        Assert.Equal(0u, _lapic.ReadRegister(LapicOffsets.Ldr));
        Assert.Equal(0u, _lapic.ReadRegister(LapicOffsets.Tpr));
        foreach (int lvt in new[] { LapicOffsets.LvtTimer, LapicOffsets.LvtThermal, LapicOffsets.LvtPerfmon,
                     LapicOffsets.LvtLint1, LapicOffsets.LvtError })
            Assert.Equal(0x1_0000u, _lapic.ReadRegister(lvt));
        // The BSP's LINT0 is virtual-wire ExtINT so the PIC works before the APIC is programmed.
        Assert.Equal(0x700u, _lapic.ReadRegister(LapicOffsets.LvtLint0));
        Assert.True(_lapic.AcceptsPicInterrupt);
        Assert.Equal(0xFEE0_0900UL, _lapic.ApicBase);

        using var ap = NewLapic(_bus, isBsp: false);
        Assert.Equal(0x1_0000u, ap.ReadRegister(LapicOffsets.LvtLint0));
        Assert.False(ap.AcceptsPicInterrupt);
        Assert.True(ap.IsWaitingForSipi);
        Assert.Equal(0xFEE0_0800UL, ap.ApicBase);
    }

    [Fact]
    public void AcceptedVector_MovesFromIrrToIsrOnAcknowledge()
    {
        Enable();
        Assert.True(Fixed(0x41));
        Assert.True(Irr(0x41));
        Assert.True(_lapic.HasDeliverableInterrupt);
        Assert.Equal(1, _wakeups);

        Assert.Equal(0x41, _lapic.Acknowledge());
        Assert.False(Irr(0x41));
        Assert.True(Isr(0x41));
        Assert.False(_lapic.HasDeliverableInterrupt);
        Assert.Equal(0x40u, _lapic.ReadRegister(LapicOffsets.Ppr));
    }

    [Fact]
    public void NothingDeliverable_AcknowledgeReturnsSpuriousVector()
    {
        Enable(0xEF);
        Assert.Equal(0xEF, _lapic.Acknowledge());
        Assert.Equal(0u, _lapic.ReadRegister(LapicOffsets.Isr + 0x70)); // no ISR bit for a spurious vector
    }

    [Fact]
    public void TaskPriority_BlocksVectorsOfItsClassAndBelow()
    {
        Enable(0xEF);
        _lapic.WriteRegister(LapicOffsets.Tpr, 0x5A);
        Assert.Equal(0x5Au, _lapic.ReadRegister(LapicOffsets.Ppr));
        Fixed(0x5F);
        Assert.False(_lapic.HasDeliverableInterrupt);
        Assert.Equal(0xEF, _lapic.Acknowledge());
        Assert.True(Irr(0x5F)); // still pending

        Fixed(0x60);
        Assert.True(_lapic.HasDeliverableInterrupt);
        Assert.Equal(0x60, _lapic.Acknowledge());

        // Lowering TPR below the in-service class does not let 0x5F in: PPR now follows ISR.
        _lapic.WriteRegister(LapicOffsets.Tpr, 0x00);
        Assert.Equal(0x60u, _lapic.ReadRegister(LapicOffsets.Ppr));
        Assert.False(_lapic.HasDeliverableInterrupt);
        Eoi();
        Assert.Equal(0x5F, _lapic.Acknowledge());
    }

    [Fact]
    public void InService_BlocksSameClassButNotHigher_AndEoiRetiresHighestFirst()
    {
        Enable();
        Fixed(0x61);
        Assert.Equal(0x61, _lapic.Acknowledge());
        Fixed(0x65);
        Assert.False(_lapic.HasDeliverableInterrupt);
        Fixed(0x71);
        Assert.Equal(0x71, _lapic.Acknowledge()); // nests above 0x61
        Assert.True(Isr(0x61) && Isr(0x71));

        Eoi();
        Assert.False(Isr(0x71));
        Assert.True(Isr(0x61));
        Assert.False(_lapic.HasDeliverableInterrupt); // 0x65 still blocked by 0x61

        Eoi();
        Assert.False(Isr(0x61));
        Assert.Equal(0x65, _lapic.Acknowledge());
    }

    [Fact]
    public void Cr8_IsTprHighNibble()
    {
        _lapic.WriteRegister(LapicOffsets.Tpr, 0x7C);
        Assert.Equal(7UL, _lapic.Cr8);
        _lapic.Cr8 = 0x3;
        Assert.Equal(0x30u, _lapic.ReadRegister(LapicOffsets.Tpr)); // MOV CR8 clears TPR[3:0]
    }

    [Fact]
    public void ArbitrationPriority_FollowsSdmFormula()
    {
        Enable();
        _lapic.WriteRegister(LapicOffsets.Tpr, 0x45);
        Assert.Equal(0x45, _lapic.ArbitrationPriority); // TPR above IRRV and ISRV
        Fixed(0x52);
        Assert.Equal(0x50, _lapic.ArbitrationPriority); // IRRV class wins, low nibble 0
        Assert.Equal(0x52, _lapic.Acknowledge());
        Assert.Equal(0x50u, _lapic.ReadRegister(LapicOffsets.Apr));
    }

    [Fact]
    public void LevelTriggered_SetsTmrAndEoiBroadcasts_EdgeDoesNot()
    {
        Enable();
        Fixed(0x81, level: true);
        Fixed(0x91);
        Assert.True(Tmr(0x81));
        Assert.False(Tmr(0x91));
        Assert.Equal(0x91, _lapic.Acknowledge());
        Eoi();
        Assert.Empty(_bus.Eois);
        Assert.Equal(0x81, _lapic.Acknowledge());
        Eoi();
        Assert.Equal([(byte)0x81], _bus.Eois);
        Eoi(); // nothing in service: no broadcast
        Assert.Single(_bus.Eois);
    }

    [Fact]
    public void SoftwareDisable_MasksLvtsAndRefusesFixedButTakesNmi()
    {
        Enable();
        _lapic.WriteRegister(LapicOffsets.LvtTimer, 0x30);
        _lapic.WriteRegister(LapicOffsets.LvtError, 0x31);
        _lapic.WriteRegister(LapicOffsets.Svr, 0x0FF);
        Assert.Equal(0x1_0030u, _lapic.ReadRegister(LapicOffsets.LvtTimer));
        Assert.Equal(0x1_0031u, _lapic.ReadRegister(LapicOffsets.LvtError));
        Assert.False(_lapic.AcceptsPicInterrupt); // LINT0 is masked now too

        _lapic.WriteRegister(LapicOffsets.LvtTimer, 0x32); // clearing the mask is ignored while disabled
        Assert.Equal(0x1_0032u, _lapic.ReadRegister(LapicOffsets.LvtTimer));

        Assert.False(Fixed(0x40));
        Assert.False(Irr(0x40));
        Assert.True(_lapic.AcceptMessage(new ApicMessage(0, ApicDeliveryMode.Nmi, false, 2)));
        Assert.True(_lapic.TakeNmi());
        Assert.False(_lapic.TakeNmi());

        Enable(); // re-enabled: entries stay masked until rewritten
        Assert.Equal(0x1_0032u, _lapic.ReadRegister(LapicOffsets.LvtTimer));
        _lapic.WriteRegister(LapicOffsets.LvtTimer, 0x32);
        Assert.Equal(0x32u, _lapic.ReadRegister(LapicOffsets.LvtTimer));
        Assert.True(Fixed(0x40));
    }

    [Fact]
    public void Esr_IsWriteThenRead_AndIllegalVectorsAreRefused()
    {
        Enable();
        Assert.False(Fixed(0x05));
        Assert.False(Irr(0x05));
        Assert.Equal(0u, _lapic.ReadRegister(LapicOffsets.Esr)); // not visible before a write
        _lapic.WriteRegister(LapicOffsets.Esr, 0);
        Assert.Equal(0x40u, _lapic.ReadRegister(LapicOffsets.Esr)); // receive illegal vector
        _lapic.WriteRegister(LapicOffsets.Esr, 0);
        Assert.Equal(0u, _lapic.ReadRegister(LapicOffsets.Esr));

        _lapic.ReadRegister(0x410); // reserved register
        _lapic.WriteRegister(LapicOffsets.Esr, 0);
        Assert.Equal(0x80u, _lapic.ReadRegister(LapicOffsets.Esr));
    }

    [Fact]
    public void ErrorLvt_RaisesItsVectorWhenAnErrorIsLogged()
    {
        Enable();
        _lapic.WriteRegister(LapicOffsets.LvtError, 0xFE);
        _lapic.WriteRegister(LapicOffsets.IcrLow, 0x0000_4003); // fixed IPI with illegal vector 3
        Assert.Empty(_bus.Messages);
        Assert.True(Irr(0xFE));
        _lapic.WriteRegister(LapicOffsets.Esr, 0);
        Assert.Equal(0x20u, _lapic.ReadRegister(LapicOffsets.Esr)); // send illegal vector
    }

    [Fact]
    public void IcrWrite_SendsTheEncodedMessage()
    {
        Enable();
        _lapic.WriteRegister(LapicOffsets.IcrHigh, 0x0312_3456);
        Assert.Equal(0x0300_0000u, _lapic.ReadRegister(LapicOffsets.IcrHigh));
        _lapic.WriteRegister(LapicOffsets.IcrLow, 0x0000_4931); // lowest priority, logical, vector 0x31
        var m = Assert.Single(_bus.Messages);
        Assert.Equal(new ApicMessage(0x31, ApicDeliveryMode.LowestPriority, LogicalDestination: true, Destination: 3), m);
        Assert.Equal(0x4931u, _lapic.ReadRegister(LapicOffsets.IcrLow)); // delivery status idle

        _lapic.WriteRegister(LapicOffsets.IcrLow, 0x000C_4400); // NMI to all excluding self
        Assert.Equal(ApicShorthand.AllExcludingSelf, _bus.Messages[1].Shorthand);
        Assert.Equal(ApicDeliveryMode.Nmi, _bus.Messages[1].DeliveryMode);

        _lapic.WriteRegister(LapicOffsets.IcrLow, 0x0000_8500); // INIT level de-assert: reaches nobody
        Assert.Equal(2, _bus.Messages.Count);
    }

    [Fact]
    public void RegisterPage_NarrowReadsAndOnlyAlignedDwordWrites()
    {
        Span<byte> b = stackalloc byte[1];
        _lapic.Read(0, LapicOffsets.Id + 3, b);
        Assert.Equal(2, b[0]);
        _lapic.Write(0, LapicOffsets.Tpr, [0x50, 0, 0, 0]);
        Assert.Equal(0x50u, _lapic.ReadRegister(LapicOffsets.Tpr));
        _lapic.Write(0, LapicOffsets.Tpr, [0x60]); // byte store: dropped
        _lapic.Write(0, LapicOffsets.Tpr + 4, [0x70, 0, 0, 0]); // misaligned: dropped
        Assert.Equal(0x50u, _lapic.ReadRegister(LapicOffsets.Tpr));
    }

    [Fact]
    public void ApicBase_RelocatesDisablesAndRejectsReservedBits()
    {
        Span<byte> data = stackalloc byte[4];
        Assert.True(_lapic.TryRead(0xFEE0_0030, data));
        Assert.Equal(0x14, data[0]);

        Assert.True(_lapic.TryWriteApicBase(0xFED0_0000 | 0x900));
        Assert.False(_lapic.TryRead(0xFEE0_0030, data));
        Assert.True(_lapic.TryRead(0xFED0_0030, data));
        Assert.Equal(0xFED0_0000UL, _lapic.BaseAddress);

        Assert.False(_lapic.TryWriteApicBase(0xFEE0_0000 | 0xD00)); // x2APIC is not offered
        Assert.False(_lapic.TryWriteApicBase(0xFEE0_0000 | 0x901)); // reserved bit 0
        Assert.False(_lapic.TryWriteApicBase(0x100_FEE0_0000 | 0x900)); // above MAXPHYADDR 40

        Enable();
        _lapic.WriteRegister(LapicOffsets.Tpr, 0x20);
        Assert.True(_lapic.TryWriteApicBase(0xFEE0_0000 | 0x100)); // EN clear
        Assert.False(_lapic.IsHardwareEnabled);
        Assert.False(_lapic.TryRead(0xFEE0_0030, data));
        Assert.True(_lapic.AcceptsPicInterrupt); // INTR goes straight to the CPU
        Assert.False(_lapic.AcceptMessage(new ApicMessage(0, ApicDeliveryMode.Nmi, false, 2)));

        Assert.True(_lapic.TryWriteApicBase(0xFEE0_0000 | 0x900)); // re-enabled in power-up state
        Assert.Equal(0xFFu, _lapic.ReadRegister(LapicOffsets.Svr));
        Assert.Equal(0u, _lapic.ReadRegister(LapicOffsets.Tpr));
        Enable();
        Assert.True(Fixed(0x44));
        Assert.Equal(0x44, _lapic.Acknowledge());
    }

    [Fact]
    public void Ldr_DfrAndMatching()
    {
        _lapic.WriteRegister(LapicOffsets.Ldr, 0x24FF_FFFF);
        Assert.Equal(0x2400_0000u, _lapic.ReadRegister(LapicOffsets.Ldr));
        Assert.True(_lapic.MatchesDestination(0x04, logical: true)); // flat: bit 2 of 0x24
        Assert.False(_lapic.MatchesDestination(0x09, logical: true));
        Assert.True(_lapic.MatchesDestination(0x02, logical: false));
        Assert.True(_lapic.MatchesDestination(0xFF, logical: false));
        Assert.False(_lapic.MatchesDestination(0x03, logical: false));

        _lapic.WriteRegister(LapicOffsets.Dfr, 0x0000_0000); // cluster model
        Assert.Equal(0x0FFF_FFFFu, _lapic.ReadRegister(LapicOffsets.Dfr));
        Assert.True(_lapic.MatchesDestination(0x24, logical: true)); // cluster 2, member bit 2
        Assert.True(_lapic.MatchesDestination(0x2C, logical: true));
        Assert.False(_lapic.MatchesDestination(0x34, logical: true)); // other cluster
        Assert.False(_lapic.MatchesDestination(0x21, logical: true)); // other member
        Assert.True(_lapic.MatchesDestination(0xFF, logical: true)); // broadcast
    }

    [Fact]
    public void SaveRestore_RoundTripsRegistersPendingStateAndTimer()
    {
        Enable(0xEE);
        _lapic.WriteRegister(LapicOffsets.Tpr, 0x20);
        _lapic.WriteRegister(LapicOffsets.Ldr, 0x0800_0000);
        _lapic.WriteRegister(LapicOffsets.Dfr, 0x0FFF_FFFF);
        _lapic.WriteRegister(LapicOffsets.LvtLint0, 0x1_0700);
        _lapic.WriteRegister(LapicOffsets.LvtLint1, 0x400);
        _lapic.WriteRegister(LapicOffsets.LvtError, 0xFD);
        _lapic.WriteRegister(LapicOffsets.IcrHigh, 0x0100_0000);
        _lapic.WriteRegister(LapicOffsets.DivideConfig, 0xB);
        _lapic.WriteRegister(LapicOffsets.LvtTimer, 0xEC);
        _lapic.WriteRegister(LapicOffsets.InitialCount, 10_000);
        Fixed(0x91, level: true);
        Assert.Equal(0x91, _lapic.Acknowledge());
        Fixed(0x35);
        _clock.Advance(4_000);

        var state = CpuState.CreateReset();
        _lapic.SaveState(state);
        // KVM_GET_LAPIC layout: each register at its MMIO offset, ID in the top byte.
        Assert.Equal(2, state.LapicRegisters[LapicOffsets.Id + 3]);
        Assert.Equal(0x1EE, BitConverter.ToInt32(state.LapicRegisters, LapicOffsets.Svr));
        Assert.Equal(6_000, BitConverter.ToInt32(state.LapicRegisters, LapicOffsets.CurrentCount));
        Assert.Equal(0x0002_0000, BitConverter.ToInt32(state.LapicRegisters, LapicOffsets.Isr + 0x40)); // 0x91
        Assert.Equal(0xFEE0_0900UL, state.ApicBase);

        var otherBus = new RecordingApicBus();
        using var copy = NewLapic(otherBus, isBsp: false);
        _clock.Advance(1_000); // time passes while the state is in flight
        copy.RestoreState(state);
        int[] offsets =
        [
            LapicOffsets.Id, LapicOffsets.Version, LapicOffsets.Tpr, LapicOffsets.Apr, LapicOffsets.Ppr,
            LapicOffsets.Ldr, LapicOffsets.Dfr, LapicOffsets.Svr, LapicOffsets.Esr, LapicOffsets.IcrLow,
            LapicOffsets.IcrHigh, LapicOffsets.LvtTimer, LapicOffsets.LvtThermal, LapicOffsets.LvtPerfmon,
            LapicOffsets.LvtLint0, LapicOffsets.LvtLint1, LapicOffsets.LvtError, LapicOffsets.InitialCount,
            LapicOffsets.DivideConfig,
            .. Enumerable.Range(0, 24).Select(i => LapicOffsets.Isr + 16 * i),
        ];
        foreach (int offset in offsets)
            Assert.True(_lapic.ReadRegister(offset) == copy.ReadRegister(offset), $"register 0x{offset:x}");
        Assert.Equal(0xFEE0_0900UL, copy.ApicBase);
        Assert.False(copy.IsWaitingForSipi);
        Assert.Equal(6_000u, copy.ReadRegister(LapicOffsets.CurrentCount)); // continues from the saved count

        // 0x91 (level) is in service and blocks 0x35; its EOI is broadcast from the restored TMR.
        Assert.Equal(0xEE, copy.Acknowledge());
        copy.WriteRegister(LapicOffsets.Eoi, 0);
        Assert.Equal([(byte)0x91], otherBus.Eois);
        Assert.Equal(0x35, copy.Acknowledge());

        _clock.Advance(6_000); // the restored timer expires when the saved count runs out
        Assert.True(Bit(copy, LapicOffsets.Irr, 0xEC));
    }
}
