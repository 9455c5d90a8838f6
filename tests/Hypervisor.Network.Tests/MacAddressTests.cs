using Hypervisor.Network;

namespace Hypervisor.Network.Tests;

public class MacAddressTests
{
    [Fact]
    public void ParsesAndFormats()
    {
        Assert.True(MacAddress.TryParse("52:54:00:AB:cd:0F", out var mac));
        Assert.Equal(0x525400ABCD0FUL, mac.Value);
        Assert.Equal("52:54:00:ab:cd:0f", mac.ToString());
        Assert.False(mac.IsGroup);
        Assert.True(MacAddress.Broadcast.IsGroup);
        Assert.False(MacAddress.TryParse("52:54:00:ab:cd", out _));
        Assert.False(MacAddress.TryParse("52:54:00:ab:cd:0g", out _));
    }

    [Fact]
    public void GeneratedAddressesAreLocalUnicastUnderQemusPrefix()
    {
        var mac = MacAddress.Generate();
        Assert.Equal(0x525400UL, mac.Value >> 24);
        Assert.False(mac.IsGroup);
        Assert.NotEqual(mac, MacAddress.Generate()); // 2^-24 chance of a collision
    }
}
