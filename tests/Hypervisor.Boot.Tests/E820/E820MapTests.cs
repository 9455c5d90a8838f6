using Hypervisor.Boot.E820;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.E820;

public class E820MapTests
{
    [Fact]
    public void A_pc_map_reserves_the_bios_area_the_apics_and_the_bios_alias()
    {
        using var memory = GuestMemory.CreatePc(256UL << 20);
        var map = E820Map.CreatePc(memory);
        Assert.Equal(
        [
            new E820Entry(0, 0x9FC00, E820Type.Ram),
            new E820Entry(0x9FC00, 0x100000 - 0x9FC00, E820Type.Reserved),
            new E820Entry(0x100000, (256UL << 20) - 0x100000, E820Type.Ram),
            new E820Entry(0xFEC00000, 0x1000, E820Type.Reserved),
            new E820Entry(0xFEE00000, 0x1000, E820Type.Reserved),
            new E820Entry(0xFFFE0000, 0x20000, E820Type.Reserved),
        ], map.Entries);
        Assert.Equal(639u, map.LowerMemoryKiB);
        Assert.Equal(255u * 1024, map.UpperMemoryKiB);
    }

    [Fact]
    public void Ram_above_the_pci_hole_is_reported_from_4_GiB()
    {
        using var memory = GuestMemory.CreatePc(4UL << 30);
        var map = E820Map.CreatePc(memory, new E820Entry(0xE0000, 0x1000, E820Type.Acpi));
        Assert.Contains(new E820Entry(0x100000, 0xC0000000 - 0x100000, E820Type.Ram), map.Entries);
        Assert.Contains(new E820Entry(0x1_0000_0000, 1UL << 30, E820Type.Ram), map.Entries);
        Assert.Contains(new E820Entry(0xE0000, 0x1000, E820Type.Acpi), map.Entries);
        Assert.Contains(new E820Entry(0x9FC00, 0xE0000 - 0x9FC00, E820Type.Reserved), map.Entries);
        Assert.Contains(new E820Entry(0xE1000, 0x100000 - 0xE1000, E820Type.Reserved), map.Entries);
        Assert.Equal((0xC0000000u - 0x100000) / 1024, map.UpperMemoryKiB);
    }

    [Fact]
    public void A_later_range_replaces_what_it_covers_and_equal_neighbours_merge()
    {
        var map = new E820Map();
        map.Add(0, 0x10000, E820Type.Ram);
        map.Add(0x4000, 0x1000, E820Type.Reserved);
        map.Add(0x4000, 0x1000, E820Type.Ram);
        Assert.Equal([new E820Entry(0, 0x10000, E820Type.Ram)], map.Entries);
        map.Add(0x8000, 0x10000, E820Type.Nvs);
        Assert.Equal([new E820Entry(0, 0x8000, E820Type.Ram), new E820Entry(0x8000, 0x10000, E820Type.Nvs)], map.Entries);
        Assert.True(map.IsUsable(0x1000, 0x7000));
        Assert.False(map.IsUsable(0x1000, 0x7001));
        Assert.False(map.IsUsable(0x20000, 1));
    }
}
