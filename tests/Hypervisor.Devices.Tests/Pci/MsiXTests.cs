using Hypervisor.Devices.Pci;

namespace Hypervisor.Devices.Tests.Pci;

public class MsiXTests
{
    private const int Slot = 7;
    private const ulong Bar = 0xE000_0000;
    private const ulong Pba = Bar + 0x800;
    private const int Control = 0x42;
    private const uint Enable = 1 << 15;
    private const uint FunctionMask = 1 << 14;

    private static (PciMachine Pc, TestPciDevice Device, MsiXCapability MsiX) Machine(int vectors = 3)
    {
        var pc = new PciMachine();
        pc.Root.IsaBridge.ProgramDefaultRoutes();
        var device = new TestPciDevice();
        var msix = device.WithMsiX(vectors, tableBar: 1, tableOffset: 0, pbaBar: 1, pbaOffset: 0x800);
        device.Memory(1, 0x1000, msix.CreateBarHandler(1));
        pc.Root.AddDevice(device, Slot);
        pc.WriteConfig(Slot, 0, 0x14, 4, (uint)Bar);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)(PciCommand.MemorySpace | PciCommand.BusMaster));
        return (pc, device, msix);
    }

    private static void ProgramEntry(PciMachine pc, int vector, ulong address, uint data, bool masked)
    {
        ulong entry = Bar + (ulong)vector * 16;
        pc.MmioWrite(entry, 8, address);
        pc.MmioWrite(entry + 8, 4, data);
        pc.MmioWrite(entry + 12, 4, masked ? 1u : 0u);
    }

    [Fact]
    public void CapabilityRegistersDescribeTableAndPba()
    {
        var (pc, _, msix) = Machine(vectors: 3);
        Assert.Equal(0x40, msix.Offset);
        // ID 11, Table Size N-1 = 2; table in BAR1 at 0, PBA in BAR1 at 0x800.
        Assert.Equal(0x0002_0011u, pc.ReadConfig(Slot, 0, 0x40, 4));
        Assert.Equal(0x0000_0001u, pc.ReadConfig(Slot, 0, 0x44, 4));
        Assert.Equal(0x0000_0801u, pc.ReadConfig(Slot, 0, 0x48, 4));
        pc.WriteConfig(Slot, 0, 0x44, 4, 0xFFFF_FFFF);
        pc.WriteConfig(Slot, 0, Control, 2, 0xFFFF);
        Assert.Equal(0x0000_0001u, pc.ReadConfig(Slot, 0, 0x44, 4));
        Assert.Equal(0xC002u, pc.ReadConfig(Slot, 0, Control, 2));
    }

    [Fact]
    public void EntriesComeOutOfResetMaskedAndOnlyTheMaskBitIsWritable()
    {
        var (pc, _, msix) = Machine();
        Assert.Equal(1ul, pc.MmioRead(Bar + 12, 4));
        Assert.True(msix.IsVectorMasked(2));
        pc.MmioWrite(Bar + 16 + 12, 4, 0xFFFF_FFFE);
        Assert.Equal(0ul, pc.MmioRead(Bar + 16 + 12, 4));
        pc.MmioWrite(Bar + 16, 8, 0x1_FEE0_0004);
        Assert.Equal(0x1_FEE0_0004ul, pc.MmioRead(Bar + 16, 8));
    }

    [Fact]
    public void EnabledUnmaskedVectorDeliversItsEntry()
    {
        var (pc, device, _) = Machine();
        ProgramEntry(pc, 1, 0xFEE0_1000, 0x4031, masked: false);
        pc.WriteConfig(Slot, 0, Control, 2, Enable);
        device.NotifyVector(1);
        Assert.Equal((0xFEE0_1000ul, 0x4031u), Assert.Single(pc.Interrupts.Messages));
        Assert.Empty(pc.Interrupts.LineChanges);
    }

    [Fact]
    public void MaskedVectorIsPendingInThePbaAndFiresOnUnmask()
    {
        var (pc, device, msix) = Machine();
        ProgramEntry(pc, 2, 0xFEE0_0000, 0x41, masked: true);
        pc.WriteConfig(Slot, 0, Control, 2, Enable);
        device.NotifyVector(2);
        Assert.Empty(pc.Interrupts.Messages);
        Assert.Equal(0b100ul, pc.MmioRead(Pba, 8));
        Assert.True(msix.IsPending(2));

        pc.MmioWrite(Bar + 2 * 16 + 12, 4, 0);
        Assert.Equal((0xFEE0_0000ul, 0x41u), Assert.Single(pc.Interrupts.Messages));
        Assert.Equal(0ul, pc.MmioRead(Pba, 8));
    }

    [Fact]
    public void FunctionMaskHoldsEveryVectorUntilCleared()
    {
        var (pc, device, _) = Machine();
        ProgramEntry(pc, 0, 0xFEE0_0000, 0x50, masked: false);
        ProgramEntry(pc, 1, 0xFEE0_0000, 0x51, masked: false);
        pc.WriteConfig(Slot, 0, Control, 2, Enable | FunctionMask);
        device.NotifyVector(1);
        device.NotifyVector(0);
        Assert.Empty(pc.Interrupts.Messages);
        Assert.Equal(0b11ul, pc.MmioRead(Pba, 4));
        pc.WriteConfig(Slot, 0, Control, 2, Enable);
        Assert.Equal([(0xFEE0_0000ul, 0x50u), (0xFEE0_0000ul, 0x51u)], pc.Interrupts.Messages);
        Assert.Equal(0ul, pc.MmioRead(Pba, 4));
    }

    [Fact]
    public void PbaIgnoresWrites()
    {
        var (pc, device, _) = Machine();
        pc.WriteConfig(Slot, 0, Control, 2, Enable);
        device.NotifyVector(0); // entry 0 is still masked
        pc.MmioWrite(Pba, 8, 0);
        Assert.Equal(1ul, pc.MmioRead(Pba, 8));
    }

    [Fact]
    public void DisabledMsiXFallsBackToIntxAndEnablingItReleasesThePin()
    {
        var (pc, device, _) = Machine();
        device.NotifyVector(0);
        Assert.True(pc.Interrupts.Level(11)); // slot 7 INTA -> PIRQD -> IRQ 11
        Assert.Empty(pc.Interrupts.Messages);
        pc.WriteConfig(Slot, 0, Control, 2, Enable);
        Assert.False(pc.Interrupts.Level(11));
        Assert.False(device.IsIntxAsserted);
    }

    [Fact]
    public void VectorBeyondTheTableSignalsNothing()
    {
        var (pc, device, _) = Machine(vectors: 2);
        pc.WriteConfig(Slot, 0, Control, 2, Enable);
        device.NotifyVector(2);
        device.NotifyVector(-1);
        Assert.Empty(pc.Interrupts.Messages);
        Assert.Equal(0ul, pc.MmioRead(Pba, 8));
    }

    [Fact]
    public void SharedBarRoutesOnlyTableAndPbaOffsetsToMsiX()
    {
        var device = new TestPciDevice();
        var msix = device.WithMsiX(4, tableBar: 2, tableOffset: 0x2000, pbaBar: 2, pbaOffset: 0x3000);
        Span<byte> data = stackalloc byte[4];
        Assert.False(msix.TryRead(2, 0x1FFC, data));
        Assert.False(msix.TryRead(1, 0x2000, data));
        Assert.True(msix.TryRead(2, 0x2000 + 3 * 16 + 12, data));
        Assert.Equal(1u, BitConverter.ToUInt32(data));
        Assert.False(msix.TryRead(2, 0x2040, data));
        Assert.True(msix.TryRead(2, 0x3000, data));
        Assert.False(msix.TryRead(2, 0x3008, data));
    }

    [Fact]
    public void ResetMasksEveryEntryAndClearsPending()
    {
        var (pc, device, msix) = Machine();
        ProgramEntry(pc, 0, 0xFEE0_0000, 0x50, masked: false);
        pc.WriteConfig(Slot, 0, Control, 2, Enable | FunctionMask);
        device.NotifyVector(0);
        device.Reset();
        Assert.True(msix.IsVectorMasked(0));
        Assert.False(msix.IsPending(0));
        Assert.False(msix.Enabled);
        Assert.Equal(0ul, msix.MessageAddress(0));
    }

    [Fact]
    public void MisplacedStructuresAreRefused()
    {
        Assert.Throws<ArgumentException>(() => new TestPciDevice().WithMsiX(4, 0, 0x4, 0, 0x800));
        Assert.Throws<ArgumentException>(() => new TestPciDevice().WithMsiX(4, 0, 0x0, 0, 0x20));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TestPciDevice().WithMsiX(4, 6, 0, 0, 0x800));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TestPciDevice().WithMsiX(4096, 0, 0, 1, 0));
    }

    [Fact]
    public void MsiAndMsiXChainInOrder()
    {
        var device = new TestPciDevice();
        device.WithMsi();
        device.WithMsiX(2, 0, 0, 0, 0x100);
        Assert.Equal([(PciCapabilityId.Msi, 0x40), (PciCapabilityId.MsiX, 0x50)], device.Config.WalkCapabilities());
    }
}
