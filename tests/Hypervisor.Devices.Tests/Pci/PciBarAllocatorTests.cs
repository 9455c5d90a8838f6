using Hypervisor.Devices.Pci;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Devices.Tests.Pci;

public class PciBarAllocatorTests
{
    [Fact]
    public void BarsGetNaturallyAlignedAddressesInTheirWindowsAndDecodeAtOnce()
    {
        var pc = new PciMachine();
        var nic = new TestPciDevice(name: "nic");
        nic.Io(0, 32);
        nic.Memory(1, 0x20);
        var disk = new TestPciDevice(name: "disk");
        disk.Io(0, 0x40);
        disk.Memory(1, 0x1000);
        disk.Memory(2, 0x4000, is64Bit: true, prefetchable: true);
        pc.Root.AddDevice(nic);
        pc.Root.AddDevice(disk);

        var assignments = pc.Root.ConfigureForDirectBoot();

        Assert.Equal(5, assignments.Count);
        foreach (var a in assignments)
        {
            Assert.Equal(0ul, a.Base % a.Size);
            if (a.Kind == PciBarKind.Io) Assert.InRange(a.Base, 0xC000ul, 0xFFFFul);
            else Assert.InRange(a.Base, PcMemoryLayout.PciMmio32Start, PcMemoryLayout.PciMmio32End - a.Size);
        }
        // Largest first: the 16 KiB BAR opens the memory window, the 64-byte I/O BAR the I/O window.
        Assert.Equal(PcMemoryLayout.PciMmio32Start, disk.Bars[2]!.MappedAddress);
        Assert.Equal(0xC000ul, disk.Bars[0]!.MappedAddress);
        Assert.Equal(0xC040ul, nic.Bars[0]!.MappedAddress);
        Assert.Equal((uint)(PcMemoryLayout.PciMmio32Start | 0xC), pc.ReadConfig(3, 0, 0x18, 4));
        Assert.Equal(0u, pc.ReadConfig(3, 0, 0x1C, 4));
        Assert.Equal(0xC041u, pc.ReadConfig(2, 0, 0x10, 4));

        Assert.True(pc.Ports.TryFind(0xC05F, out var io) && io.Device == nic.Bars[0]!.Handler);
        ulong nicMemory = nic.Bars[1]!.MappedAddress!.Value;
        Assert.Equal(0xA504ul, pc.MmioRead(nicMemory + 4, 4));
        var command = (PciCommand)pc.ReadConfig(2, 0, PciRegisters.Command, 2);
        Assert.Equal(PciCommand.IoSpace | PciCommand.MemorySpace, command);
    }

    [Fact]
    public void AssignedRangesNeverOverlap()
    {
        var pc = new PciMachine();
        for (int i = 0; i < 6; i++)
        {
            var d = new TestPciDevice(name: $"d{i}");
            d.Memory(0, 0x1000UL << (i % 3));
            d.Memory(1, 0x10);
            d.Io(2, 4U << (i % 4));
            pc.Root.AddDevice(d);
        }
        var assignments = pc.Root.ConfigureForDirectBoot();
        foreach (var kind in new[] { true, false })
        {
            var ranges = assignments.Where(a => (a.Kind == PciBarKind.Io) == kind).OrderBy(a => a.Base).ToList();
            for (int i = 1; i < ranges.Count; i++)
                Assert.True(ranges[i - 1].Base + ranges[i - 1].Size <= ranges[i].Base);
        }
        Assert.Equal(18, pc.Mmio.Ranges.Count + pc.Ports.Ranges.Count(r => r.Base >= 0xC000));
    }

    [Fact]
    public void InterruptLineGetsTheRoutedIrq()
    {
        var pc = new PciMachine();
        var a = new TestPciDevice(PciInterruptPin.IntA, "a");
        var b = new TestPciDevice(PciInterruptPin.IntA, "b");
        var none = new TestPciDevice(PciInterruptPin.None, "none");
        pc.Root.AddDevice(a, 2);
        pc.Root.AddDevice(b, 4);
        pc.Root.AddDevice(none, 5);
        pc.Root.ConfigureForDirectBoot();
        Assert.Equal(11u, pc.ReadConfig(2, 0, PciRegisters.InterruptLine, 1));
        Assert.Equal(10u, pc.ReadConfig(4, 0, PciRegisters.InterruptLine, 1));
        Assert.Equal(0u, pc.ReadConfig(5, 0, PciRegisters.InterruptLine, 1));
        Assert.Equal(0x0B0B_0A0Au, pc.ReadConfig(1, 0, Piix3IsaBridge.PirqRouteControl, 4));
    }

    [Fact]
    public void ExpansionRomGetsAnAddressButStaysDisabled()
    {
        var pc = new PciMachine();
        var device = new TestPciDevice();
        device.Rom(0x1_0000);
        pc.Root.AddDevice(device, 3);
        pc.Root.ConfigureForDirectBoot();
        uint rom = pc.ReadConfig(3, 0, PciRegisters.ExpansionRomBar, 4);
        Assert.Equal((uint)PcMemoryLayout.PciMmio32Start, rom);
        Assert.Null(device.Bars[PciBar.ExpansionRomIndex]!.MappedAddress);
    }

    [Fact]
    public void ExhaustedWindowIsAnError()
    {
        var pc = new PciMachine();
        var device = new TestPciDevice();
        device.Io(0, 256);
        device.Io(1, 256);
        pc.Root.AddDevice(device);
        var allocator = new PciBarAllocator(ioStart: 0xFF00);
        var error = Assert.Throws<InvalidOperationException>(() => pc.Root.ConfigureForDirectBoot(allocator));
        Assert.Contains("test device", error.Message);
    }
}
