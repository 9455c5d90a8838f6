using Hypervisor.Platform.Memory;

namespace Hypervisor.Platform.Tests.Memory;

public class GuestMemoryTests
{
    [Fact]
    public void SmallRamIsOneRegionAtZero()
    {
        using var memory = GuestMemory.CreatePc(64UL << 20);
        var region = Assert.Single(memory.Regions);
        Assert.Equal(0UL, region.GuestPhysicalAddress);
        Assert.Equal(64UL << 20, region.Size);
        Assert.Equal(64UL << 20, memory.RamSize);
    }

    [Fact]
    public void RamBeyondThePciHoleContinuesAtFourGiB()
    {
        using var memory = GuestMemory.CreatePc(4UL << 30);
        Assert.Equal(2, memory.Regions.Count);
        Assert.Equal(PcMemoryLayout.PciHoleStart, memory.Regions[0].Size);
        Assert.Equal(PcMemoryLayout.FourGiB, memory.Regions[1].GuestPhysicalAddress);
        Assert.Equal((4UL << 30) - PcMemoryLayout.PciHoleStart, memory.Regions[1].Size);
        Assert.Null(memory.Find(PcMemoryLayout.PciHoleStart));
        Assert.False(memory.IsRam(PcMemoryLayout.IoApicBase));
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(1000UL)]
    [InlineData((1UL << 20) + 4096)]
    public void RejectsSizesThatAreNotWholeMebibytes(ulong size) =>
        Assert.Throws<ArgumentException>(() => GuestMemory.CreatePc(size));

    [Fact]
    public void ReadsBackWhatWasWritten()
    {
        using var memory = GuestMemory.CreatePc(2UL << 20);
        memory.Write(0x1234, 0xDEADBEEF_CAFEF00DUL);
        Assert.Equal(0xDEADBEEF_CAFEF00DUL, memory.Read<ulong>(0x1234));
        Assert.Equal(0x0D, memory.GetReadOnlySpan(0x1234, 1)[0]);
    }

    [Theory]
    [InlineData(2UL << 20, 1)]              // first byte past RAM
    [InlineData((2UL << 20) - 4, 8)]        // straddles the end
    [InlineData(ulong.MaxValue - 3, 8)]     // wraps around the address space
    [InlineData(0xFEE0_0000UL, 4)]          // LAPIC page: MMIO, not RAM
    public void AccessOutsideRamThrowsGuestMemoryException(ulong address, int length)
    {
        using var memory = GuestMemory.CreatePc(2UL << 20);
        var buffer = new byte[length];
        Assert.Throws<GuestMemoryException>(() => memory.Read(address, buffer));
        Assert.Throws<GuestMemoryException>(() => memory.Write(address, buffer));
    }

    [Fact]
    public void RomIsLoadableButNotWritableByDevices()
    {
        using var memory = GuestMemory.CreatePc(2UL << 20);
        memory.AddRom(0xFFFE_0000, 0x2_0000, "bios");
        memory.Load(0xFFFF_FFF0, [0xEA, 0x5B, 0xE0]);
        Assert.Equal(0xEA, memory.GetReadOnlySpan(0xFFFF_FFF0, 1)[0]);
        Assert.Throws<GuestMemoryException>(() => memory.Write(0xFFFF_FFF0, (byte)0));
        Assert.False(memory.IsRam(0xFFFF_FFF0));
    }

    [Fact]
    public void SetReadOnlyTogglesGuestWritesAndAnnouncesTheChange()
    {
        using var memory = new GuestMemory();
        var region = memory.AddRam(0xF_0000, 0x1_0000, "shadow");
        var changes = new List<MemoryRegion>();
        memory.AccessChanged += changes.Add;
        memory.SetReadOnly(region, true);
        memory.SetReadOnly(region, true);
        Assert.Throws<GuestMemoryException>(() => memory.Write(0xF_0000, (byte)1));
        Assert.False(memory.IsRam(0xF_0000));
        memory.SetReadOnly(region, false);
        memory.Write(0xF_0000, (byte)1);
        Assert.Equal([region, region], changes);
        Assert.Equal(0x1_0000UL, memory.RamSize);
        using var other = new GuestMemory();
        Assert.Throws<ArgumentException>(() => other.SetReadOnly(region, true));
    }

    [Fact]
    public void OverlappingRegionsAreRejected()
    {
        using var memory = GuestMemory.CreatePc(2UL << 20);
        Assert.Throws<ArgumentException>(() => memory.AddRom(0x10_0000, 0x20_0000, "overlap"));
    }

    [Fact]
    public void DeviceWritesAreReportedToTheObserver()
    {
        using var memory = GuestMemory.CreatePc(2UL << 20);
        var seen = new List<(ulong, ulong)>();
        memory.DeviceWriteObserver = (a, l) => seen.Add((a, l));
        memory.Write(0x5000, 7u);
        memory.GetWritableSpan(0x6000, 16);
        Assert.Equal([(0x5000UL, 4UL), (0x6000UL, 16UL)], seen);
    }
}
