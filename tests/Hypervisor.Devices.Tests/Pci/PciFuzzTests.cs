using Hypervisor.Devices.Pci;

namespace Hypervisor.Devices.Tests.Pci;

/// <summary>
/// Random guest configuration and MSI-X table traffic (TESTING.md, adversarial input): nothing may throw, every
/// decoded BAR must be registered exactly where it says, and every IRQ level must be the OR of the pins routed to it.
/// </summary>
public class PciFuzzTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomConfigurationTrafficKeepsBusesAndLinesConsistent(int seed)
    {
        var random = new Random(seed);
        var pc = new PciMachine();
        var nic = new TestPciDevice(PciInterruptPin.IntA, "nic");
        nic.Io(0, 32);
        nic.Memory(1, 0x1000);
        nic.Rom(0x8000);
        nic.WithMsi(4, perVectorMasking: true);
        var disk = new TestPciDevice(PciInterruptPin.IntB, "disk");
        var msix = disk.WithMsiX(4, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x800);
        disk.Memory(0, 0x1000, msix.CreateBarHandler(0));
        disk.Memory(2, 0x4000, is64Bit: true);
        pc.Root.AddDevice(nic, 3);
        pc.Root.AddDevice(disk, 4);
        pc.Root.ConfigureForDirectBoot();
        var devices = new PciDevice[] { pc.Root.HostBridge, pc.Root.IsaBridge, nic, disk };
        int[] slots = [0, 1, 3, 4];

        for (int step = 0; step < 20_000; step++)
        {
            int choice = random.Next(10);
            uint value = random.Next(4) switch
            {
                0 => 0xFFFF_FFFF, 1 => 0, 2 => (uint)random.Next() & 0xFFFF_F000 | 0xE000_0000, _ => (uint)random.Next(),
            };
            int size = 1 << random.Next(3);
            if (choice < 6)
            {
                int register = random.Next(2) == 0 ? random.Next(0x40) : random.Next(0x100);
                register &= ~(size - 1);
                int slot = slots[random.Next(slots.Length)];
                if (choice < 4) pc.WriteConfig(slot, 0, register, size, value);
                else pc.ReadConfig(slot, 0, register, size);
            }
            else if (choice == 6)
            {
                pc.Out((ushort)(0xCF8 + random.Next(8)), size, value);
            }
            else if (choice == 7 && disk.Bars[0]!.MappedAddress is { } bar)
            {
                pc.MmioWrite(bar + (ulong)(random.Next(0x1000 / size) * size), size, value);
            }
            else
            {
                var device = random.Next(2) == 0 ? nic : disk;
                if (random.Next(3) == 0) device.SetIntxLevel(false);
                else device.NotifyVector(random.Next(-1, 6));
            }
            CheckInvariants(pc, devices);
        }
    }

    private static void CheckInvariants(PciMachine pc, PciDevice[] devices)
    {
        int mapped = 0;
        foreach (var device in devices)
        {
            foreach (var bar in device.Bars.OfType<PciBar>())
            {
                if (bar.MappedAddress is not { } address) continue;
                mapped++;
                var bus = bar.IsIo ? (Hypervisor.Platform.Io.Bus)pc.Ports : pc.Mmio;
                Assert.True(bus.TryFind(address, out var range));
                Assert.Equal((address, bar.Size), (range.Base, range.Length));
                Assert.Same(bar.Handler, range.Device);
                var command = device.Config.Command;
                Assert.True(bar.IsIo ? command.HasFlag(PciCommand.IoSpace) : command.HasFlag(PciCommand.MemorySpace));
            }
        }
        // The only other range is the host's 0xCF8-0xCFF.
        Assert.Equal(mapped + 1, pc.Ports.Ranges.Count + pc.Mmio.Ranges.Count);

        var router = pc.Root.Bus.IntxRouter;
        for (int irq = 0; irq < 16; irq++)
        {
            bool expected = devices.Any(d => d.IsIntxAsserted &&
                PciIntxRouter.DecodeRoute(router.GetRoute(PciIntxRouter.SwizzlePirq(d.Address.Device, d.InterruptPin))) == irq);
            Assert.Equal(expected, pc.Interrupts.Level(irq));
        }
    }
}
