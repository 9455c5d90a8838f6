using Hypervisor.Boot.Firmware;

namespace Hypervisor.Boot.Tests.Firmware;

public class BiosImageTests
{
    private static BiosImage Image(int size, Func<int, byte>? fill = null)
    {
        var data = new byte[size];
        for (int i = 0; i < size; i++) data[i] = fill?.Invoke(i) ?? 0;
        return BiosImage.Parse(new BootFile("bios.bin", data));
    }

    [Theory]
    [InlineData(0x1_0000, 0xFFFF_0000UL)]
    [InlineData(0x2_0000, 0xFFFE_0000UL)]
    [InlineData(0x4_0000, 0xFFFC_0000UL)]
    [InlineData(16 << 20, 0xFF00_0000UL)]
    public void The_image_ends_at_4_GiB(int size, ulong address) => Assert.Equal(address, Image(size).Address);

    [Fact]
    public void The_low_alias_is_the_last_128_KiB()
    {
        var image = Image(0x4_0000, i => (byte)(i >> 16));
        Assert.Equal(0x2_0000, image.LowAlias.Length);
        Assert.Equal(2, image.LowAlias[0]);
        Assert.Equal(3, image.LowAlias[^1]);
        Assert.Equal(0x1_0000, Image(0x1_0000).LowAlias.Length);
    }

    [Theory]
    [InlineData(0, "the BIOS image is empty")]
    [InlineData(512, "a BIOS image must be a multiple of 64 KiB, this one is 512 bytes")]
    [InlineData(0x1_0001, "a BIOS image must be a multiple of 64 KiB, this one is 65537 bytes")]
    [InlineData((16 << 20) + 0x1_0000, "a BIOS image can be at most 16 MiB (0xFF000000-0xFFFFFFFF), this one is 16 MiB")]
    public void Bad_sizes_are_named(int size, string problem)
    {
        var e = Assert.Throws<BootImageException>(() => Image(size));
        Assert.Equal($"bios.bin: {problem}", e.Message);
    }
}
