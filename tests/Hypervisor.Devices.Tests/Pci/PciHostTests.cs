using Hypervisor.Devices.Pci;
using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Tests.Pci;

public class PciHostTests
{
    [Fact]
    public void HostBridgeIdentityReadsAsDwordWordAndByteAtEveryOffset()
    {
        var pc = new PciMachine();
        Assert.Equal(0x1237_8086u, pc.ReadConfig(0, 0, 0x00, 4));
        Assert.Equal(0x8086u, pc.ReadConfig(0, 0, 0x00, 2));
        Assert.Equal(0x1237u, pc.ReadConfig(0, 0, 0x02, 2));
        Assert.Equal(0x86u, pc.ReadConfig(0, 0, 0x00, 1));
        Assert.Equal(0x80u, pc.ReadConfig(0, 0, 0x01, 1));
        Assert.Equal(0x37u, pc.ReadConfig(0, 0, 0x02, 1));
        Assert.Equal(0x12u, pc.ReadConfig(0, 0, 0x03, 1));
        // Class 06/00/00 and revision 02 in the DWORD at 0x08.
        Assert.Equal(0x0600_0002u, pc.ReadConfig(0, 0, 0x08, 4));
        Assert.Equal(0x0600u, pc.ReadConfig(0, 0, 0x0A, 2));
    }

    [Fact]
    public void WordAtCfdReadsTheMiddleBytesOfTheDword()
    {
        var pc = new PciMachine();
        pc.Out(0xCF8, 4, PciMachine.Address(0, 0, 0, 0x00));
        Assert.Equal(0x3780u, pc.In(0xCFD, 2));
    }

    [Fact]
    public void Piix3IsAMultiFunctionIsaBridgeInSlotOne()
    {
        var pc = new PciMachine();
        Assert.Equal(0x7000_8086u, pc.ReadConfig(1, 0, 0x00, 4));
        Assert.Equal(0x0601u, pc.ReadConfig(1, 0, 0x0A, 2));
        Assert.Equal(0x80u, pc.ReadConfig(1, 0, PciRegisters.HeaderType, 1));
        Assert.Equal(0x0u, pc.ReadConfig(0, 0, PciRegisters.HeaderType, 1));
    }

    [Theory]
    [InlineData(3, 0, 0)]
    [InlineData(1, 1, 0)]
    [InlineData(0, 0, 1)]
    [InlineData(31, 7, 0)]
    public void AbsentFunctionsAndOtherBusesReadAllOnes(int device, int function, int bus)
    {
        var pc = new PciMachine();
        Assert.Equal(0xFFFF_FFFFu, pc.ReadConfig(device, function, 0x00, 4, bus));
        Assert.Equal(0xFFFFu, pc.ReadConfig(device, function, 0x02, 2, bus));
        Assert.Equal(0xFFu, pc.ReadConfig(device, function, 0x0E, 1, bus));
        pc.WriteConfig(device, function, 0x04, 2, 0x0007, bus);
        Assert.Equal(0xFFFF_FFFFu, pc.ReadConfig(device, function, 0x04, 4, bus));
    }

    [Fact]
    public void ConfigDataWithoutTheEnableBitReadsAllOnesAndWritesNothing()
    {
        var pc = new PciMachine();
        pc.Out(0xCF8, 4, PciMachine.Address(0, 1, 0, PciRegisters.LatencyTimer) & 0x7FFF_FFFF);
        Assert.Equal(0xFFFF_FFFFu, pc.In(0xCFC, 4));
        pc.Out(0xCFD, 1, 0x40);
        Assert.Equal(0u, pc.ReadConfig(1, 0, PciRegisters.LatencyTimer, 1));
    }

    [Fact]
    public void ConfigAddressReadsBackWithReservedBitsZeroAndOnlyDwordAccessesReachIt()
    {
        var pc = new PciMachine();
        // Linux's pci_check_type1 probe: a byte at 0xCFB must not disturb the DWORD register.
        pc.Out(0xCF8, 4, 0x8000_0000);
        pc.Out(0xCFB, 1, 0x01);
        pc.Out(0xCF8, 2, 0x1234);
        Assert.Equal(0x8000_0000u, pc.In(0xCF8, 4));
        pc.Out(0xCF8, 4, 0xFFFF_FFFF);
        Assert.Equal(0x80FF_FFFCu, pc.In(0xCF8, 4));
        Assert.Equal(0xFFFFu, pc.In(0xCF8, 2));
    }

    [Fact]
    public void ByteAndWordWritesChangeOnlyTheirBytes()
    {
        var pc = new PciMachine();
        var device = new TestPciDevice();
        pc.Root.AddDevice(device, 5);
        pc.WriteConfig(5, 0, PciRegisters.CacheLineSize, 1, 0x10);
        pc.WriteConfig(5, 0, PciRegisters.LatencyTimer, 1, 0x40);
        Assert.Equal(0x0000_4010u, pc.ReadConfig(5, 0, PciRegisters.CacheLineSize, 4));
        pc.WriteConfig(5, 0, PciRegisters.CacheLineSize, 2, 0x2008);
        Assert.Equal(0x2008u, pc.ReadConfig(5, 0, PciRegisters.CacheLineSize, 2));
        // Interrupt Line is R/W, Interrupt Pin (the next byte) read-only.
        pc.WriteConfig(5, 0, PciRegisters.InterruptLine, 2, 0xFF0B);
        Assert.Equal(0x010Bu, pc.ReadConfig(5, 0, PciRegisters.InterruptLine, 2));
        Assert.Contains((PciRegisters.InterruptLine, 2, 0xFF0Bu), device.DeviceWrites);
    }

    [Fact]
    public void ReadOnlyIdentityIgnoresWrites()
    {
        var pc = new PciMachine();
        pc.WriteConfig(0, 0, 0x00, 4, 0xDEAD_BEEF);
        pc.WriteConfig(0, 0, 0x08, 4, 0xDEAD_BEEF);
        Assert.Equal(0x1237_8086u, pc.ReadConfig(0, 0, 0x00, 4));
        Assert.Equal(0x0600_0002u, pc.ReadConfig(0, 0, 0x08, 4));
    }

    [Fact]
    public void AcpiResetValueSixAtCf9ResetsTheMachine()
    {
        var pc = new PciMachine();
        pc.Out(0xCF9, 1, 0x06);
        var request = Assert.Single(pc.VmControl.Requests);
        Assert.Equal(VmStopReason.Reset, request.Reason);
    }

    [Fact]
    public void LinuxRebootPciSequenceResetsOnceOnTheZeroToOneTransition()
    {
        var pc = new PciMachine();
        uint cf9 = pc.In(0xCF9, 1) & ~6u;
        pc.Out(0xCF9, 1, cf9 | 0x02);
        Assert.Empty(pc.VmControl.Requests);
        Assert.Equal(0x02u, pc.In(0xCF9, 1));
        pc.Out(0xCF9, 1, cf9 | 0x06);
        Assert.Single(pc.VmControl.Requests);
        // Bit 2 stays set: writing it again is no new transition until the platform reset clears RC.
        pc.Out(0xCF9, 1, 0x06);
        Assert.Single(pc.VmControl.Requests);
        pc.Root.Reset();
        Assert.Equal(0u, pc.In(0xCF9, 1));
        pc.Out(0xCF9, 1, 0x06);
        Assert.Equal(2, pc.VmControl.Requests.Count);
    }

    [Fact]
    public void DwordAtCf8IsConfigAddressNotResetControl()
    {
        var pc = new PciMachine();
        pc.Out(0xCF8, 4, 0x8000_0600);
        Assert.Empty(pc.VmControl.Requests);
        Assert.Equal(0u, pc.In(0xCF9, 1));
        // And a byte at 0xCF9 leaves CONFIG_ADDRESS alone.
        pc.Out(0xCF9, 1, 0x02);
        Assert.Equal(0x8000_0600u, pc.In(0xCF8, 4));
    }

    [Fact]
    public void ResetControlKeepsOnlyItsDefinedBits()
    {
        var pc = new PciMachine();
        pc.Out(0xCF9, 1, 0xFB);
        Assert.Equal(0x02u, pc.In(0xCF9, 1));
        Assert.Empty(pc.VmControl.Requests);
    }
}
