using Hypervisor.Devices.Pci;

namespace Hypervisor.Devices.Tests.Pci;

public class PciBarTests
{
    private const int Slot = 3;

    private static (PciMachine Pc, TestPciDevice Device) Machine(Action<TestPciDevice> declare)
    {
        var pc = new PciMachine();
        var device = new TestPciDevice();
        declare(device);
        pc.Root.AddDevice(device, Slot);
        return (pc, device);
    }

    private static uint Size(PciMachine pc, int register, uint pattern = 0xFFFF_FFFF)
    {
        uint original = pc.ReadConfig(Slot, 0, register, 4);
        pc.WriteConfig(Slot, 0, register, 4, pattern);
        uint sized = pc.ReadConfig(Slot, 0, register, 4);
        pc.WriteConfig(Slot, 0, register, 4, original);
        return sized;
    }

    [Fact]
    public void IoBarSizingReturnsTheSizeMaskWithTheIoIndicator()
    {
        var (pc, _) = Machine(d => d.Io(0, 32));
        Assert.Equal(0x0000_0001u, pc.ReadConfig(Slot, 0, 0x10, 4));
        Assert.Equal(0xFFFF_FFE1u, Size(pc, 0x10));
        Assert.Equal(0x0000_0001u, pc.ReadConfig(Slot, 0, 0x10, 4));
    }

    [Fact]
    public void Memory32BarSizingReturnsTheSizeMaskAndTypeBits()
    {
        var (pc, _) = Machine(d =>
        {
            d.Memory(1, 4096);
            d.Memory(2, 1 << 20, prefetchable: true);
        });
        Assert.Equal(0xFFFF_F000u, Size(pc, 0x14));
        Assert.Equal(0xFFF0_0008u, Size(pc, 0x18));
        // Undeclared BARs are hardwired to zero (6.2.5.1).
        Assert.Equal(0u, Size(pc, 0x10));
        Assert.Equal(0u, Size(pc, 0x1C));
    }

    [Fact]
    public void Memory64BarSizingUsesBothDwords()
    {
        var (pc, _) = Machine(d =>
        {
            d.Memory(0, 0x4000, is64Bit: true, prefetchable: true);
            d.Memory(2, 8UL << 30, is64Bit: true);
        });
        Assert.Equal(0xFFFF_C00Cu, Size(pc, 0x10));
        Assert.Equal(0xFFFF_FFFFu, Size(pc, 0x14));
        // 8 GiB: no address bits in the low DWORD, the upper DWORD's bit 0 is the size.
        Assert.Equal(0x0000_0004u, Size(pc, 0x18));
        Assert.Equal(0xFFFF_FFFEu, Size(pc, 0x1C));
    }

    [Fact]
    public void ExpansionRomSizingKeepsTheEnableBitSeparate()
    {
        var (pc, _) = Machine(d => d.Rom(64 * 1024));
        // Linux sizes the ROM BAR with ~PCI_ROM_ADDRESS_ENABLE.
        Assert.Equal(0xFFFF_0000u, Size(pc, 0x30, 0xFFFF_FFFE));
        Assert.Equal(0xFFFF_0001u, Size(pc, 0x30));
    }

    [Theory]
    [InlineData(24u)]
    [InlineData(2u)]
    [InlineData(512u)]
    public void IoBarSizesOutsideTheSpecAreRefused(uint size)
    {
        var device = new TestPciDevice();
        Assert.Throws<ArgumentOutOfRangeException>(() => device.Io(0, size));
    }

    [Fact]
    public void Memory64BarCannotShareItsUpperHalf()
    {
        var device = new TestPciDevice();
        device.Memory(0, 4096, is64Bit: true);
        Assert.Throws<InvalidOperationException>(() => device.Memory(1, 4096));
        Assert.Throws<ArgumentOutOfRangeException>(() => device.Memory(5, 4096, is64Bit: true));
    }

    [Fact]
    public void MemoryBarDecodesOnlyWhileMemorySpaceIsEnabled()
    {
        var (pc, device) = Machine(d => d.Memory(0, 4096));
        var handler = (RecordingBusDevice)device.Bars[0]!.Handler;
        pc.WriteConfig(Slot, 0, 0x10, 4, 0xE000_0000);
        Assert.False(pc.Mmio.TryFind(0xE000_0000, out _));

        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.MemorySpace);
        Assert.Equal(0xA510ul, pc.MmioRead(0xE000_0010, 4));
        Assert.Equal((0xE000_0000ul, 0x10ul, 4, false, 0ul), Assert.Single(handler.Accesses));
        Assert.Equal(0xE000_0000ul, device.Bars[0]!.MappedAddress);

        // I/O Space alone does not decode a memory BAR.
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.IoSpace);
        Assert.False(pc.Mmio.TryFind(0xE000_0000, out _));
        Assert.Null(device.Bars[0]!.MappedAddress);
    }

    [Fact]
    public void IoBarDecodesOnlyWhileIoSpaceIsEnabled()
    {
        var (pc, device) = Machine(d => d.Io(0, 32));
        pc.WriteConfig(Slot, 0, 0x10, 4, 0xC040);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.MemorySpace);
        Assert.False(pc.Ports.TryFind(0xC040, out _));
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.IoSpace);
        pc.Out(0xC05F, 1, 0x5A);
        var access = Assert.Single(((RecordingBusDevice)device.Bars[0]!.Handler).Accesses);
        Assert.Equal((0xC040ul, 0x1Ful, 1, true, 0x5Aul), access);
        Assert.False(pc.Ports.TryFind(0xC060, out _));
    }

    [Fact]
    public void MovingAnEnabledBarReregistersItAtTheNewAddress()
    {
        var (pc, device) = Machine(d => d.Memory(1, 0x1000));
        pc.WriteConfig(Slot, 0, 0x14, 4, 0xE000_0000);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.MemorySpace);
        pc.WriteConfig(Slot, 0, 0x14, 4, 0xE010_0000);
        Assert.False(pc.Mmio.TryFind(0xE000_0000, out _));
        Assert.True(pc.Mmio.TryFind(0xE010_0FFF, out var range));
        Assert.Equal((0xE010_0000ul, 0x1000ul), (range.Base, range.Length));
        Assert.Equal(0xE010_0000ul, device.Bars[1]!.MappedAddress);
        // A byte write to the BAR's top byte moves it as well.
        pc.WriteConfig(Slot, 0, 0x17, 1, 0xE1);
        Assert.True(pc.Mmio.TryFind(0xE110_0000, out _));
        Assert.False(pc.Mmio.TryFind(0xE010_0000, out _));
    }

    [Fact]
    public void SizingWithDecodingEnabledNeverMapsTheAllOnesPattern()
    {
        var (pc, device) = Machine(d => d.Memory(0, 0x1000));
        pc.WriteConfig(Slot, 0, 0x10, 4, 0xE000_0000);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.MemorySpace);
        pc.WriteConfig(Slot, 0, 0x10, 4, 0xFFFF_FFFF);
        Assert.Empty(pc.Mmio.Ranges);
        Assert.Null(device.Bars[0]!.MappedAddress);
        pc.WriteConfig(Slot, 0, 0x10, 4, 0xE000_0000);
        Assert.Single(pc.Mmio.Ranges);
    }

    [Fact]
    public void Memory64BarMapsAbove4GiB()
    {
        var (pc, device) = Machine(d => d.Memory(2, 0x4000, is64Bit: true));
        pc.WriteConfig(Slot, 0, 0x18, 4, 0x8000_0000);
        pc.WriteConfig(Slot, 0, 0x1C, 4, 0x0000_0001);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.MemorySpace);
        Assert.Equal(0x1_8000_0000ul, device.Bars[2]!.MappedAddress);
        Assert.Equal(0xA504ul, pc.MmioRead(0x1_8000_0004, 2));
    }

    [Fact]
    public void IoBarBeyondThePortSpaceIsNotDecoded()
    {
        var (pc, device) = Machine(d => d.Io(0, 16));
        pc.WriteConfig(Slot, 0, 0x10, 4, 0x1_0000);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.IoSpace);
        Assert.Null(device.Bars[0]!.MappedAddress);
        pc.WriteConfig(Slot, 0, 0x10, 4, 0xFFF0);
        Assert.Equal(0xFFF0ul, device.Bars[0]!.MappedAddress);
    }

    [Fact]
    public void ExpansionRomNeedsBothItsEnableBitAndMemorySpace()
    {
        var (pc, device) = Machine(d => d.Rom(0x8000));
        pc.WriteConfig(Slot, 0, 0x30, 4, 0xFEB0_0000);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.MemorySpace);
        Assert.Null(device.Bars[PciBar.ExpansionRomIndex]!.MappedAddress);
        pc.WriteConfig(Slot, 0, 0x30, 4, 0xFEB0_0001);
        Assert.Equal(0xFEB0_0000ul, device.Bars[PciBar.ExpansionRomIndex]!.MappedAddress);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, 0);
        Assert.Empty(pc.Mmio.Ranges);
    }

    [Fact]
    public void BarPlacedOverAnotherDeviceStaysUndecodedUntilMoved()
    {
        var pc = new PciMachine();
        var a = new TestPciDevice(name: "a");
        a.Memory(0, 0x1000);
        var b = new TestPciDevice(name: "b");
        b.Memory(0, 0x1000);
        pc.Root.AddDevice(a, 3);
        pc.Root.AddDevice(b, 4);
        foreach (int slot in new[] { 3, 4 })
        {
            pc.WriteConfig(slot, 0, 0x10, 4, 0xE000_0000);
            pc.WriteConfig(slot, 0, PciRegisters.Command, 2, (uint)PciCommand.MemorySpace);
        }
        Assert.Equal(0xE000_0000ul, a.Bars[0]!.MappedAddress);
        Assert.Null(b.Bars[0]!.MappedAddress);
        pc.WriteConfig(4, 0, 0x10, 4, 0xE000_1000);
        Assert.Equal(0xE000_1000ul, b.Bars[0]!.MappedAddress);
    }

    [Fact]
    public void DeviceResetUnmapsBarsAndRestoresPowerOnConfiguration()
    {
        var (pc, device) = Machine(d => d.Memory(0, 0x1000));
        pc.WriteConfig(Slot, 0, 0x10, 4, 0xE000_0000);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)(PciCommand.MemorySpace | PciCommand.BusMaster));
        pc.WriteConfig(Slot, 0, PciRegisters.InterruptLine, 1, 11);
        pc.Root.Reset();
        Assert.Empty(pc.Mmio.Ranges);
        Assert.Equal(0u, pc.ReadConfig(Slot, 0, 0x10, 4));
        Assert.Equal(0u, pc.ReadConfig(Slot, 0, PciRegisters.Command, 2));
        Assert.Equal(0u, pc.ReadConfig(Slot, 0, PciRegisters.InterruptLine, 1));
        Assert.False(device.IsBusMaster);
    }

    [Fact]
    public void BusMasterFollowsCommandBitTwo()
    {
        var (pc, device) = Machine(_ => { });
        Assert.False(device.IsBusMaster);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.BusMaster);
        Assert.True(device.IsBusMaster);
    }
}
