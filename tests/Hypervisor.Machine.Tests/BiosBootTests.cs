using System.Buffers.Binary;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Machine.Tests;

public class BiosBootTests
{
    [Fact]
    public void E820FileListsTheRamBelowAndAbove4GiBAndTheKvmPages()
    {
        using var memory = GuestMemory.CreatePc(4UL << 30);
        byte[] file = BiosBoot.E820File(memory);
        Assert.Equal(3 * 20, file.Length);
        (ulong, ulong, uint) Entry(int i) => (
            BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(i * 20)),
            BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(i * 20 + 8)),
            BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(i * 20 + 16)));
        Assert.Equal((0UL, 0xC000_0000UL, 1u), Entry(0));
        Assert.Equal((0xFEFF_C000UL, 0x4000UL, 2u), Entry(1));
        Assert.Equal((0x1_0000_0000UL, 0x4000_0000UL, 1u), Entry(2));
    }

    [Fact]
    public void BootOrderNamesDisksAsQemuDoesAndPutsTheChosenKindFirst()
    {
        Assert.Equal("/pci@i0cf8/scsi@2/disk@0,0\n/pci@i0cf8/scsi@a/disk@0,0\n/pci@i0cf8/ethernet@3/ethernet-phy@0",
            BiosBoot.BootOrder(BootSource.Disk, [2, 10], [3]));
        Assert.Equal("/pci@i0cf8/ethernet@3/ethernet-phy@0\n/pci@i0cf8/scsi@2/disk@0,0",
            BiosBoot.BootOrder(BootSource.Net, [2], [3]));
        Assert.Equal("", BiosBoot.BootOrder(BootSource.Disk, [], []));
    }

    [Fact]
    public void ResetStateIsTheSdmPowerOnStateWithTheSignatureInEdx()
    {
        var s = BiosBoot.ResetState(0x6FB);
        Assert.Equal(0x6FBUL, s.Rdx);
        Assert.Equal(0xFFF0UL, s.Rip);
        Assert.Equal(0xF000, s.Cs.Selector);
        Assert.Equal(0xFFFF_0000UL, s.Cs.Base);
        Assert.Equal(0x6000_0010UL, s.Cr0);
        Assert.Equal(2UL, s.Rflags);
        Assert.Equal(0UL, s.Rax);
        Assert.Equal(0UL, s.Rsp);
    }
}
