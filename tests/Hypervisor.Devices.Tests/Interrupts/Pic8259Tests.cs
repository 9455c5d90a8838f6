using Hypervisor.Devices.Interrupts;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Interrupts;

public class Pic8259Tests
{
    private readonly PortIoBus _bus = new();
    private readonly Pic8259 _pic = new();
    private int _raisedEvents;

    public Pic8259Tests()
    {
        _pic.RegisterPorts(_bus);
        _pic.InterruptRaised += () => _raisedEvents++;
    }

    /// <summary>The BIOS/Linux initialisation: vectors 0x20 and 0x28, cascade on IR2, 8086 mode.</summary>
    private void InitPc(byte masterIcw4 = 0x01, byte slaveIcw4 = 0x01)
    {
        _bus.Out8(0x20, 0x11);
        _bus.Out8(0x21, 0x20);
        _bus.Out8(0x21, 0x04);
        _bus.Out8(0x21, masterIcw4);
        _bus.Out8(0xA0, 0x11);
        _bus.Out8(0xA1, 0x28);
        _bus.Out8(0xA1, 0x02);
        _bus.Out8(0xA1, slaveIcw4);
    }

    private byte MasterIsr()
    {
        _bus.Out8(0x20, 0x0B);
        return _bus.In8(0x20);
    }

    private byte MasterIrr()
    {
        _bus.Out8(0x20, 0x0A);
        return _bus.In8(0x20);
    }

    private byte SlaveIsr()
    {
        _bus.Out8(0xA0, 0x0B);
        return _bus.In8(0xA0);
    }

    private void Pulse(int irq)
    {
        _pic.SetIrq(irq, true);
        _pic.SetIrq(irq, false);
    }

    [Fact]
    public void EdgeRequestIsDeliveredWithTheProgrammedVectorAndMovesToInService()
    {
        InitPc();
        Assert.False(_pic.HasInterrupt);
        Pulse(1);
        Assert.True(_pic.HasInterrupt);
        Assert.Equal(1, _raisedEvents);
        Assert.Equal(0x02, MasterIrr());
        Assert.Equal(0x21, _pic.Acknowledge());
        Assert.Equal(0x02, MasterIsr());
        Assert.Equal(0x00, MasterIrr());
        Assert.False(_pic.HasInterrupt);
    }

    [Fact]
    public void InServiceLevelBlocksLowerPrioritiesUntilEoiButNotHigherOnes()
    {
        InitPc();
        Pulse(3);
        Pulse(1);
        Assert.Equal(0x21, _pic.Acknowledge());
        Assert.False(_pic.HasInterrupt); // IRQ3 is lower than IRQ1 in service
        Pulse(0);
        Assert.True(_pic.HasInterrupt); // IRQ0 outranks it
        Assert.Equal(0x20, _pic.Acknowledge());
        _bus.Out8(0x20, 0x20); // non-specific EOI ends the highest in service: IRQ0
        Assert.Equal(0x02, MasterIsr());
        Assert.False(_pic.HasInterrupt);
        _bus.Out8(0x20, 0x20);
        Assert.True(_pic.HasInterrupt);
        Assert.Equal(0x23, _pic.Acknowledge());
    }

    [Fact]
    public void MaskedRequestsWaitInIrr()
    {
        InitPc();
        _bus.Out8(0x21, 0x10);
        Assert.Equal(0x10, _bus.In8(0x21));
        Pulse(4);
        Assert.False(_pic.HasInterrupt);
        Assert.Equal(0x10, MasterIrr());
        _bus.Out8(0x21, 0x00);
        Assert.True(_pic.HasInterrupt);
        Assert.Equal(0x24, _pic.Acknowledge());
    }

    [Fact]
    public void SlaveRequestsCascadeThroughMasterIr2()
    {
        InitPc();
        Pulse(10);
        Assert.True(_pic.HasInterrupt);
        Assert.Equal(0x2A, _pic.Acknowledge());
        Assert.Equal(0x04, MasterIsr());
        Assert.Equal(0x04, SlaveIsr());
        Assert.False(_pic.HasInterrupt);
        _bus.Out8(0xA0, 0x20);
        _bus.Out8(0x20, 0x20);
        Assert.Equal(0, MasterIsr());
        Assert.Equal(0, SlaveIsr());
    }

    [Fact]
    public void IsaIrq2IsWiredToIrq9()
    {
        InitPc();
        Pulse(2);
        Assert.Equal(0x29, _pic.Acknowledge());
    }

    [Fact]
    public void LevelRequestThatDisappearsBeforeInta_GivesSpuriousIrq7WithoutInService()
    {
        InitPc();
        _bus.Out8(0x4D0, 0x20); // IRQ5 level-triggered
        _pic.SetIrq(5, true);
        Assert.True(_pic.HasInterrupt);
        _pic.SetIrq(5, false);
        Assert.Equal(0x27, _pic.Acknowledge());
        Assert.Equal(0x00, MasterIsr());
    }

    [Fact]
    public void SlaveRequestThatDisappearsAfterTheMasterSawIt_GivesSpuriousIrq15WithMasterIr2InService()
    {
        InitPc();
        _bus.Out8(0x4D1, 0x08); // IRQ11 level-triggered
        _pic.SetIrq(11, true);
        Assert.True(_pic.HasInterrupt);
        _pic.SetIrq(11, false);
        Assert.Equal(0x2F, _pic.Acknowledge());
        Assert.Equal(0x04, MasterIsr()); // the OS must EOI the master for a spurious IRQ15
        Assert.Equal(0x00, SlaveIsr());
        _bus.Out8(0x20, 0x20);
        Assert.False(_pic.HasInterrupt);
    }

    [Fact]
    public void SlaveStillRequestingAfterAutoEoiIsDeliveredAgain()
    {
        InitPc(slaveIcw4: 0x03);
        Pulse(9);
        Pulse(10);
        Assert.Equal(0x29, _pic.Acknowledge());
        _bus.Out8(0x20, 0x20); // EOI the master's IR2
        Assert.True(_pic.HasInterrupt);
        Assert.Equal(0x2A, _pic.Acknowledge());
    }

    [Fact]
    public void LevelTriggeredLineKeepsRequestingWhileHighAndEdgeLineDoesNot()
    {
        InitPc();
        _bus.Out8(0x4D1, 0x02); // IRQ9 level
        _pic.SetIrq(9, true);
        Assert.Equal(0x29, _pic.Acknowledge());
        _bus.Out8(0xA0, 0x20);
        _bus.Out8(0x20, 0x20);
        Assert.True(_pic.HasInterrupt); // still high: requested again
        Assert.Equal(0x29, _pic.Acknowledge());
        _pic.SetIrq(9, false); // the handler quiets the device before its EOI
        _bus.Out8(0xA0, 0x20);
        _bus.Out8(0x20, 0x20);
        Assert.False(_pic.HasInterrupt);

        _pic.SetIrq(4, true); // edge, held high
        Assert.Equal(0x24, _pic.Acknowledge());
        _bus.Out8(0x20, 0x20);
        Assert.False(_pic.HasInterrupt); // no new edge
        _pic.SetIrq(4, false);
        _pic.SetIrq(4, true);
        Assert.True(_pic.HasInterrupt);
    }

    [Fact]
    public void ElcrBitsForIrq0_1_2_8_13AreHardwiredEdge()
    {
        _bus.Out8(0x4D0, 0xFF);
        _bus.Out8(0x4D1, 0xFF);
        Assert.Equal(0xF8, _bus.In8(0x4D0));
        Assert.Equal(0xDE, _bus.In8(0x4D1));
        Assert.Equal(0xDEF8, _bus.In16(0x4D0));
    }

    [Fact]
    public void AutoEoiLeavesNothingInService()
    {
        InitPc(masterIcw4: 0x03);
        Pulse(3);
        Assert.Equal(0x23, _pic.Acknowledge());
        Assert.Equal(0x00, MasterIsr());
        Pulse(4);
        Assert.True(_pic.HasInterrupt); // not blocked by IRQ3: it was never in service
    }

    [Fact]
    public void RotateInAutoEoiModeMakesTheServicedLevelLowest()
    {
        InitPc(masterIcw4: 0x03);
        _bus.Out8(0x20, 0x80); // set rotate in AEOI
        Pulse(1);
        Assert.Equal(0x21, _pic.Acknowledge());
        Pulse(1);
        Pulse(5);
        Assert.Equal(0x25, _pic.Acknowledge()); // IRQ1 is now the lowest priority
        Assert.Equal(0x21, _pic.Acknowledge());
    }

    [Fact]
    public void SpecificEoiClearsTheNamedLevel()
    {
        InitPc();
        Pulse(5);
        _pic.Acknowledge();
        Pulse(1);
        _pic.Acknowledge();
        Assert.Equal(0x22, MasterIsr());
        _bus.Out8(0x20, 0x65); // specific EOI IRQ5
        Assert.Equal(0x02, MasterIsr());
    }

    [Fact]
    public void RotateOnNonSpecificEoiMakesTheEndedLevelLowest()
    {
        InitPc();
        Pulse(0);
        Assert.Equal(0x20, _pic.Acknowledge());
        _bus.Out8(0x20, 0xA0);
        Pulse(0);
        Pulse(6);
        Assert.Equal(0x26, _pic.Acknowledge());
    }

    [Fact]
    public void SetPriorityCommandChoosesTheLowestLevel()
    {
        InitPc();
        _bus.Out8(0x20, 0xC4); // IRQ4 lowest -> IRQ5 highest
        Pulse(0);
        Pulse(5);
        Assert.Equal(0x25, _pic.Acknowledge());
    }

    [Fact]
    public void PollCommandReturnsTheRequestAndActsAsInta()
    {
        InitPc();
        _bus.Out8(0x20, 0x0C);
        Assert.Equal(0x00, _bus.In8(0x20)); // nothing pending
        Pulse(6);
        _bus.Out8(0x20, 0x0C);
        Assert.Equal(0x86, _bus.In8(0x20));
        Assert.Equal(0x40, MasterIsr());
        Assert.False(_pic.HasInterrupt);
    }

    [Fact]
    public void SpecialMaskModeLetsLowerPrioritiesInWhenTheServicedLevelIsMasked()
    {
        InitPc();
        Pulse(3);
        Assert.Equal(0x23, _pic.Acknowledge());
        Pulse(6);
        Assert.False(_pic.HasInterrupt);
        _bus.Out8(0x21, 0x08); // mask IRQ3
        Assert.False(_pic.HasInterrupt); // masking alone does not help
        _bus.Out8(0x20, 0x68); // OCW3: set special mask mode
        Assert.True(_pic.HasInterrupt);
        Assert.Equal(0x26, _pic.Acknowledge());
        _bus.Out8(0x20, 0x48); // reset special mask mode
        Pulse(7);
        Assert.False(_pic.HasInterrupt);
    }

    [Fact]
    public void SpecialFullyNestedModeLetsAHigherSlaveRequestThroughWhileTheSlaveIsInService()
    {
        InitPc();
        Pulse(12);
        Assert.Equal(0x2C, _pic.Acknowledge());
        Pulse(9);
        Assert.False(_pic.HasInterrupt); // master IR2 in service blocks it
        _bus.Out8(0xA0, 0x20);
        _bus.Out8(0x20, 0x20);
        Assert.Equal(0x29, _pic.Acknowledge());

        InitPc(masterIcw4: 0x11);
        Pulse(12);
        Assert.Equal(0x2C, _pic.Acknowledge());
        Pulse(9);
        Assert.True(_pic.HasInterrupt);
        Assert.Equal(0x29, _pic.Acknowledge());
    }

    [Fact]
    public void Icw1ClearsMaskAndInService()
    {
        InitPc();
        _bus.Out8(0x21, 0xFF);
        _pic.SetIrq(0, false);
        _bus.Out8(0x21, 0x00);
        Pulse(0);
        _pic.Acknowledge();
        _bus.Out8(0x21, 0xAA);
        InitPc();
        Assert.Equal(0x00, _bus.In8(0x21));
        Assert.Equal(0x00, MasterIsr());
    }

    [Fact]
    public void InitialisationWithoutIcw4AcceptsMaskAfterIcw3()
    {
        _bus.Out8(0x20, 0x10); // ICW1 without IC4
        _bus.Out8(0x21, 0x40);
        _bus.Out8(0x21, 0x04);
        _bus.Out8(0x21, 0x01); // OCW1, not ICW4
        Assert.Equal(0x01, _bus.In8(0x21));
        Pulse(0);
        Assert.False(_pic.HasInterrupt);
        Pulse(1);
        Assert.Equal(0x41, _pic.Acknowledge());
    }

    [Fact]
    public void InterruptRaisedFiresOnlyOnTheRisingEdgeOfInt()
    {
        InitPc();
        Pulse(1);
        Pulse(3); // INT already high
        Assert.Equal(1, _raisedEvents);
        _pic.Acknowledge();
        _bus.Out8(0x20, 0x20); // EOI lets IRQ3 raise INT again
        Assert.Equal(2, _raisedEvents);
    }
}
