using Hypervisor.Boot.Firmware;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.Firmware;

/// <summary>The shadow segments as the 82441FX PAM settings steer them (datasheet 3.2.18).</summary>
public sealed class ShadowRamTests : IDisposable
{
    private readonly GuestMemory _memory;
    private readonly ShadowRam _shadow;
    private readonly List<ulong> _accessChanges = [];

    public ShadowRamTests()
    {
        // Each 64 KiB block of the 256 KiB image holds its own number; the last byte is the reset vector's page.
        var data = new byte[0x4_0000];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(0x10 + (i >> 16));
        (_memory, _shadow) = BiosMemory.Create(64 << 20, BiosImage.Parse(new BootFile("bios.bin", data)));
        _memory.AccessChanged += r => _accessChanges.Add(r.GuestPhysicalAddress);
    }

    public void Dispose() => _memory.Dispose();

    private byte Read(ulong address) => _memory.Read<byte>(address);

    [Fact]
    public void At_power_on_the_flash_answers_high_and_low_and_nothing_below_it()
    {
        Assert.Equal(0x10, Read(0xFFFC_0000));
        Assert.Equal(0x13, Read(0xFFFF_FFF0));
        // 0xE0000-0xFFFFF shows the image's last 128 KiB: blocks 2 and 3.
        Assert.Equal(0x12, Read(0xE_0000));
        Assert.Equal(0x13, Read(0xF_FFF0));
        // Nothing decodes 0xC0000-0xDFFFF on the PCI side: the bus floats high.
        Assert.Equal(0xFF, Read(0xC_0000));
        Assert.Equal(0xFF, Read(0xD_FFFF));
        Assert.False(_memory.IsRam(0xF_0000));
        Assert.False(_shadow.ReadsDram(0xF_0000));
        Assert.True(_memory.IsRam(0xB_FFFF));
        Assert.True(_memory.IsRam(0x10_0000));
    }

    [Fact]
    public void Read_write_dram_hides_the_flash_and_keeps_what_is_written()
    {
        _shadow.Set(0xF_0000, readDram: true, writeDram: true);
        Assert.Equal(0, Read(0xF_0000));
        Assert.True(_memory.IsRam(0xF_0000, 0x1_0000));
        _memory.Write<byte>(0xF_1234, 0x5A);
        Assert.Equal(0x5A, Read(0xF_1234));
        // The other segments did not move, and the high flash never does.
        Assert.Equal(0x12, Read(0xE_0000));
        Assert.Equal(0x13, Read(0xFFFF_1234));
    }

    [Fact]
    public void Read_only_dram_keeps_its_contents_and_refuses_writes()
    {
        _shadow.Set(0xE_4000, readDram: true, writeDram: true);
        _memory.Write<byte>(0xE_4000, 0x77);
        _shadow.Set(0xE_4000, readDram: true, writeDram: false);
        Assert.Equal(0x77, Read(0xE_4000));
        Assert.False(_memory.IsRam(0xE_4000));
        Assert.Throws<GuestMemoryException>(() => _memory.Write<byte>(0xE_4000, 0x11));
        Assert.Equal(0x77, Read(0xE_4000));
    }

    [Fact]
    public void The_dram_survives_behind_the_flash()
    {
        _shadow.Set(0xC_0000, readDram: true, writeDram: true);
        _memory.Write<uint>(0xC_0000, 0xAA55_1234);
        _shadow.Set(0xC_0000, readDram: false, writeDram: false);
        Assert.Equal(0xFFFF_FFFFu, _memory.Read<uint>(0xC_0000));
        _shadow.Set(0xC_0000, readDram: true, writeDram: true);
        Assert.Equal(0xAA55_1234u, _memory.Read<uint>(0xC_0000));
    }

    [Fact]
    public void A_change_of_writability_is_announced_once_per_segment()
    {
        _shadow.Set(0xF_0000, readDram: true, writeDram: true);
        _shadow.Set(0xF_0000, readDram: true, writeDram: true);
        _shadow.Set(0xF_0000, readDram: true, writeDram: false);
        Assert.Equal([0xF_0000UL, 0xF_0000UL], _accessChanges);
    }

    [Fact]
    public void Only_segment_starts_are_accepted() =>
        Assert.Throws<ArgumentException>(() => _shadow.Set(0xC_1000, true, true));

    [Fact]
    public void Ram_size_counts_the_shadowed_dram_too()
    {
        Assert.Equal(64UL << 20, _memory.RamSize);
    }
}
