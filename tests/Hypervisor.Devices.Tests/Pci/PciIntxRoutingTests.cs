using Hypervisor.Devices.Pci;

namespace Hypervisor.Devices.Tests.Pci;

public class PciIntxRoutingTests
{
    [Theory]
    [InlineData(0, PciInterruptPin.IntA, 0)]
    [InlineData(1, PciInterruptPin.IntA, 1)]
    [InlineData(2, PciInterruptPin.IntA, 2)]
    [InlineData(3, PciInterruptPin.IntA, 3)]
    [InlineData(4, PciInterruptPin.IntA, 0)]
    [InlineData(3, PciInterruptPin.IntB, 0)]
    [InlineData(5, PciInterruptPin.IntD, 0)]
    [InlineData(31, PciInterruptPin.IntC, 1)]
    public void PinsRotateAcrossPirqLinesBySlot(int slot, PciInterruptPin pin, int pirq) =>
        Assert.Equal(pirq, PciIntxRouter.SwizzlePirq(slot, pin));

    [Theory]
    [InlineData(2, PciInterruptPin.IntA, 11)]
    [InlineData(3, PciInterruptPin.IntA, 11)]
    [InlineData(4, PciInterruptPin.IntA, 10)]
    [InlineData(5, PciInterruptPin.IntA, 10)]
    [InlineData(5, PciInterruptPin.IntB, 11)]
    public void DefaultRoutesGiveSeaBiosIrqs(int slot, PciInterruptPin pin, int irq) =>
        Assert.Equal(irq, Piix3IsaBridge.DefaultIrq(slot, pin));

    [Theory]
    [InlineData(0x80, null)]
    [InlineData(0x8A, null)]
    [InlineData(0x0A, 10)]
    [InlineData(0x03, 3)]
    [InlineData(0x0F, 15)]
    [InlineData(0x00, null)]
    [InlineData(0x02, null)]
    [InlineData(0x08, null)]
    [InlineData(0x0D, null)]
    public void RouteValuesDecodeAsThePiix3Steers(byte value, int? irq) =>
        Assert.Equal(irq, PciIntxRouter.DecodeRoute(value));

    [Fact]
    public void PirqRouteControlPowersOnDisabledAndKeepsReservedBitsZero()
    {
        var pc = new PciMachine();
        Assert.Equal(0x8080_8080u, pc.ReadConfig(1, 0, Piix3IsaBridge.PirqRouteControl, 4));
        pc.WriteConfig(1, 0, Piix3IsaBridge.PirqRouteControl + 2, 1, 0x7B);
        Assert.Equal(0x0Bu, pc.ReadConfig(1, 0, Piix3IsaBridge.PirqRouteControl + 2, 1));
        Assert.Equal(0x0B, pc.Root.Bus.IntxRouter.GetRoute(2));
    }

    [Fact]
    public void AssertedPinRaisesTheIrqItsPirqIsRoutedTo()
    {
        var pc = new PciMachine();
        var device = new TestPciDevice(PciInterruptPin.IntA);
        pc.Root.AddDevice(device, 4);
        pc.Root.IsaBridge.ProgramDefaultRoutes();

        device.SetIntxLevel(true);
        Assert.True(pc.Interrupts.Level(10));
        Assert.True(device.IsIntxAsserted);
        Assert.Equal(PciStatus.InterruptStatus, (PciStatus)pc.ReadConfig(4, 0, PciRegisters.Status, 2) & PciStatus.InterruptStatus);
        device.SetIntxLevel(false);
        Assert.False(pc.Interrupts.Level(10));
        Assert.Equal([(10, true), (10, false)], pc.Interrupts.LineChanges);
    }

    [Fact]
    public void UnroutedPirqRaisesNothing()
    {
        var pc = new PciMachine();
        var device = new TestPciDevice(PciInterruptPin.IntA);
        pc.Root.AddDevice(device, 4);
        device.SetIntxLevel(true);
        Assert.Empty(pc.Interrupts.LineChanges);
        Assert.Equal(1, pc.Root.Bus.IntxRouter.AssertedPins(0));
        // Routing the line later delivers the level that is already there.
        pc.WriteConfig(1, 0, Piix3IsaBridge.PirqRouteControl, 1, 0x05);
        Assert.True(pc.Interrupts.Level(5));
    }

    [Fact]
    public void SharedLineStaysHighUntilTheLastDeviceDeasserts()
    {
        var pc = new PciMachine();
        pc.Root.IsaBridge.ProgramDefaultRoutes();
        // Slot 4 INTA -> PIRQA and slot 5 INTA -> PIRQB both route to IRQ 10; slot 8 INTA is PIRQA too.
        var a = new TestPciDevice(name: "a");
        var b = new TestPciDevice(name: "b");
        var c = new TestPciDevice(name: "c");
        pc.Root.AddDevice(a, 4);
        pc.Root.AddDevice(b, 5);
        pc.Root.AddDevice(c, 8);
        // Two pins on one PIRQ: the first to deassert leaves the line high.
        a.SetIntxLevel(true);
        c.SetIntxLevel(true);
        a.SetIntxLevel(false);
        Assert.True(pc.Interrupts.Level(10));
        Assert.Equal(1, pc.Root.Bus.IntxRouter.AssertedPins(0));
        // Two PIRQs on one IRQ: likewise.
        b.SetIntxLevel(true);
        c.SetIntxLevel(false);
        Assert.True(pc.Interrupts.Level(10));
        b.SetIntxLevel(false);
        Assert.False(pc.Interrupts.Level(10));
        Assert.Equal([(10, true), (10, false)], pc.Interrupts.LineChanges);
    }

    [Fact]
    public void RepeatedAssertionByOneDeviceCountsOnce()
    {
        var pc = new PciMachine();
        pc.Root.IsaBridge.ProgramDefaultRoutes();
        var device = new TestPciDevice();
        pc.Root.AddDevice(device, 4);
        device.SetIntxLevel(true);
        device.SetIntxLevel(true);
        device.SetIntxLevel(false);
        Assert.False(pc.Interrupts.Level(10));
        Assert.Equal(0, pc.Root.Bus.IntxRouter.AssertedPins(0));
    }

    [Fact]
    public void ReroutingAnAssertedPirqMovesTheLevel()
    {
        var pc = new PciMachine();
        pc.Root.IsaBridge.ProgramDefaultRoutes();
        var device = new TestPciDevice();
        pc.Root.AddDevice(device, 4);
        device.SetIntxLevel(true);
        pc.WriteConfig(1, 0, Piix3IsaBridge.PirqRouteControl, 1, 0x0B);
        Assert.False(pc.Interrupts.Level(10));
        Assert.True(pc.Interrupts.Level(11));
        pc.WriteConfig(1, 0, Piix3IsaBridge.PirqRouteControl, 1, 0x8B);
        Assert.False(pc.Interrupts.Level(11));
    }

    [Fact]
    public void InterruptDisableGatesThePinButNotInterruptStatus()
    {
        var pc = new PciMachine();
        pc.Root.IsaBridge.ProgramDefaultRoutes();
        var device = new TestPciDevice();
        pc.Root.AddDevice(device, 4);
        pc.WriteConfig(4, 0, PciRegisters.Command, 2, (uint)PciCommand.InterruptDisable);
        device.SetIntxLevel(true);
        Assert.False(pc.Interrupts.Level(10));
        Assert.True(((PciStatus)pc.ReadConfig(4, 0, PciRegisters.Status, 2)).HasFlag(PciStatus.InterruptStatus));
        pc.WriteConfig(4, 0, PciRegisters.Command, 2, 0);
        Assert.True(pc.Interrupts.Level(10));
        pc.WriteConfig(4, 0, PciRegisters.Command, 2, (uint)PciCommand.InterruptDisable);
        Assert.False(pc.Interrupts.Level(10));
    }

    [Fact]
    public void NotifyVectorWithoutMsiAssertsIntx()
    {
        var pc = new PciMachine();
        pc.Root.IsaBridge.ProgramDefaultRoutes();
        var device = new TestPciDevice(PciInterruptPin.IntB);
        pc.Root.AddDevice(device, 4);
        device.NotifyVector(3);
        Assert.True(pc.Interrupts.Level(10)); // slot 4 INTB -> PIRQB -> 10
        Assert.Empty(pc.Interrupts.Messages);
    }

    [Fact]
    public void DeviceWithoutAPinNeverDrivesALine()
    {
        var pc = new PciMachine();
        pc.Root.IsaBridge.ProgramDefaultRoutes();
        var device = new TestPciDevice(PciInterruptPin.None);
        pc.Root.AddDevice(device, 4);
        device.SetIntxLevel(true);
        Assert.Empty(pc.Interrupts.LineChanges);
    }

    [Fact]
    public void PlatformResetDeassertsAndUnroutes()
    {
        var pc = new PciMachine();
        pc.Root.IsaBridge.ProgramDefaultRoutes();
        var device = new TestPciDevice();
        pc.Root.AddDevice(device, 4);
        device.SetIntxLevel(true);
        pc.Root.Reset();
        Assert.False(pc.Interrupts.Level(10));
        Assert.Equal(PciIntxRouter.RoutingDisabled, pc.Root.Bus.IntxRouter.GetRoute(0));
        Assert.Equal(0, pc.Root.Bus.IntxRouter.AssertedPins(0));
    }
}
