using Hypervisor.Devices.Pci;

namespace Hypervisor.Devices.Tests.Pci;

public class MsiTests
{
    private const int Slot = 6;

    private static (PciMachine Pc, TestPciDevice Device, MsiCapability Msi) Machine(int vectors = 1, bool is64Bit = true,
        bool perVectorMasking = false)
    {
        var pc = new PciMachine();
        pc.Root.IsaBridge.ProgramDefaultRoutes();
        var device = new TestPciDevice();
        var msi = device.WithMsi(vectors, is64Bit, perVectorMasking);
        pc.Root.AddDevice(device, Slot);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)PciCommand.BusMaster);
        return (pc, device, msi);
    }

    [Fact]
    public void SixtyFourBitLayoutIsWhatTheSpecDefines()
    {
        var (pc, _, msi) = Machine(vectors: 4, perVectorMasking: true);
        Assert.Equal(0x40, msi.Offset);
        Assert.Equal(0x40u, pc.ReadConfig(Slot, 0, PciRegisters.CapabilitiesPointer, 1));
        // ID 05, Next 00, Message Control: 64-bit (7), per-vector masking (8), capable of 4 vectors (3:1 = 2).
        Assert.Equal(0x0184_0005u, pc.ReadConfig(Slot, 0, 0x40, 4));
        pc.WriteConfig(Slot, 0, 0x44, 4, 0xFEE0_1003);
        pc.WriteConfig(Slot, 0, 0x48, 4, 0x0000_0001);
        pc.WriteConfig(Slot, 0, 0x4C, 4, 0xFFFF_4041);
        pc.WriteConfig(Slot, 0, 0x50, 4, 0xFFFF_FFFF);
        pc.WriteConfig(Slot, 0, 0x54, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFEE0_1000u, pc.ReadConfig(Slot, 0, 0x44, 4));
        Assert.Equal(1u, pc.ReadConfig(Slot, 0, 0x48, 4));
        Assert.Equal(0x4041u, pc.ReadConfig(Slot, 0, 0x4C, 4));
        Assert.Equal(0xFu, pc.ReadConfig(Slot, 0, 0x50, 4));
        Assert.Equal(0u, pc.ReadConfig(Slot, 0, 0x54, 4));
        // Only Enable and Multiple Message Enable are writable in Message Control.
        pc.WriteConfig(Slot, 0, 0x42, 2, 0xFFFF);
        Assert.Equal(0x01F5u, pc.ReadConfig(Slot, 0, 0x42, 2));
    }

    [Fact]
    public void ThirtyTwoBitCapabilityHasDataAtOffsetEight()
    {
        var (pc, device, msi) = Machine(is64Bit: false);
        Assert.Equal(0x0000u, pc.ReadConfig(Slot, 0, 0x42, 2));
        pc.WriteConfig(Slot, 0, 0x44, 4, 0xFEE0_0000);
        pc.WriteConfig(Slot, 0, 0x48, 2, 0x0031);
        pc.WriteConfig(Slot, 0, 0x42, 2, 1);
        device.NotifyVector(0);
        Assert.Equal((0xFEE0_0000ul, 0x31u), Assert.Single(pc.Interrupts.Messages));
        Assert.False(msi.Is64Bit);
    }

    [Fact]
    public void EnabledMsiSendsTheMessageInsteadOfIntx()
    {
        var (pc, device, _) = Machine();
        pc.WriteConfig(Slot, 0, 0x44, 4, 0xFEE0_0000);
        pc.WriteConfig(Slot, 0, 0x4C, 2, 0x4025);
        pc.WriteConfig(Slot, 0, 0x42, 2, 1);
        device.NotifyVector(0);
        Assert.Equal((0xFEE0_0000ul, 0x4025u), Assert.Single(pc.Interrupts.Messages));
        Assert.Empty(pc.Interrupts.LineChanges);
    }

    [Fact]
    public void MultipleMessagesReplaceTheLowDataBitsWithTheVector()
    {
        var (pc, device, msi) = Machine(vectors: 8);
        pc.WriteConfig(Slot, 0, 0x44, 4, 0xFEE0_0000);
        pc.WriteConfig(Slot, 0, 0x4C, 2, 0x0040);
        // Software allocates 4 of the 8 vectors (MME = 2).
        pc.WriteConfig(Slot, 0, 0x42, 2, 2 << 4 | 1);
        Assert.Equal(4, msi.VectorsEnabled);
        device.NotifyVector(3);
        device.NotifyVector(6); // folds onto vector 2
        Assert.Equal([(0xFEE0_0000ul, 0x43u), (0xFEE0_0000ul, 0x42u)], pc.Interrupts.Messages);
    }

    [Fact]
    public void MaskedVectorSetsItsPendingBitAndFiresWhenUnmasked()
    {
        var (pc, device, msi) = Machine(vectors: 2, perVectorMasking: true);
        pc.WriteConfig(Slot, 0, 0x44, 4, 0xFEE0_0000);
        pc.WriteConfig(Slot, 0, 0x4C, 2, 0x0050);
        pc.WriteConfig(Slot, 0, 0x42, 2, 1 << 4 | 1);
        pc.WriteConfig(Slot, 0, 0x50, 4, 0b10);
        device.NotifyVector(1);
        Assert.Empty(pc.Interrupts.Messages);
        Assert.Equal(0b10u, pc.ReadConfig(Slot, 0, 0x54, 4));
        device.NotifyVector(0);
        Assert.Equal((0xFEE0_0000ul, 0x50u), Assert.Single(pc.Interrupts.Messages));

        pc.WriteConfig(Slot, 0, 0x50, 4, 0);
        Assert.Equal([(0xFEE0_0000ul, 0x50u), (0xFEE0_0000ul, 0x51u)], pc.Interrupts.Messages);
        Assert.Equal(0u, pc.ReadConfig(Slot, 0, 0x54, 4));
        Assert.Equal(0u, msi.PendingBits);
    }

    [Fact]
    public void PendingBitsAreReadOnlyToTheGuest()
    {
        var (pc, _, _) = Machine(vectors: 2, perVectorMasking: true);
        pc.WriteConfig(Slot, 0, 0x54, 4, 0xFFFF_FFFF);
        Assert.Equal(0u, pc.ReadConfig(Slot, 0, 0x54, 4));
    }

    [Fact]
    public void NoMessageWithoutBusMastering()
    {
        var (pc, device, _) = Machine();
        pc.WriteConfig(Slot, 0, 0x44, 4, 0xFEE0_0000);
        pc.WriteConfig(Slot, 0, 0x42, 2, 1);
        pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, 0);
        device.NotifyVector(0);
        Assert.Empty(pc.Interrupts.Messages);
        Assert.Empty(pc.Interrupts.LineChanges);
    }

    [Fact]
    public void EnablingMsiReleasesAnAssertedIntxPin()
    {
        var (pc, device, _) = Machine();
        device.SetIntxLevel(true);
        Assert.True(pc.Interrupts.Level(11)); // slot 6 INTA -> PIRQC -> 11
        pc.WriteConfig(Slot, 0, 0x42, 2, 1);
        Assert.False(pc.Interrupts.Level(11));
        pc.WriteConfig(Slot, 0, 0x42, 2, 0);
        Assert.True(pc.Interrupts.Level(11));
    }

    [Fact]
    public void ResetDisablesMsi()
    {
        var (pc, device, msi) = Machine();
        pc.WriteConfig(Slot, 0, 0x42, 2, 1);
        Assert.True(msi.Enabled);
        device.Reset();
        Assert.False(msi.Enabled);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(64)]
    [InlineData(0)]
    public void VectorCountsMustBeAPowerOfTwoUpTo32(int vectors) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TestPciDevice().WithMsi(vectors));
}
