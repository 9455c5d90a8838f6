using Hypervisor.Network;
using Hypervisor.Network.Tap;

namespace Hypervisor.Network.Tests;

public class TapBackendTests
{
    [Fact]
    public void AMissingTunDeviceIsNamed()
    {
        var e = Assert.Throws<NetBackendException>(() => TapBackend.Open("hvtap0", tunPath: "/nonexistent/net/tun"));
        Assert.Contains("/nonexistent/net/tun does not exist", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a-name-longer-than-15")]
    [InlineData("bad/name")]
    [InlineData("bad name")]
    public void BadInterfaceNamesAreRefused(string name)
    {
        var e = Assert.Throws<NetBackendException>(() => TapBackend.Open(name));
        Assert.Contains("interface name", e.Message);
    }

    [Fact]
    public void AFileThatIsNotTheTunDeviceFailsTunSetIff()
    {
        var e = Assert.Throws<NetBackendException>(() => TapBackend.Open("hvtap0", tunPath: "/dev/null"));
        Assert.StartsWith("tap 'hvtap0': TUNSETIFF failed", e.Message);
    }

    [Fact]
    public void ATapIsCreatedAndASecondOpenIsRefusedAsBusy()
    {
        if (!File.Exists("/dev/net/tun")) return; // no tun here: the error path is covered above
        string name = $"hvt{Environment.ProcessId % 100000}";
        TapBackend first;
        try
        {
            first = TapBackend.Open(name);
        }
        catch (NetBackendException e) when (e.Message.Contains("permission denied"))
        {
            return; // not root and no CAP_NET_ADMIN: creating a tap is not allowed, which the message says
        }
        using (first)
        {
            Assert.Equal($"tap {name}", first.Description);
            Assert.True(Directory.Exists($"/sys/class/net/{name}"));
            var e = Assert.Throws<NetBackendException>(() => TapBackend.Open(name));
            Assert.Contains("in use", e.Message);
        }
        Assert.False(Directory.Exists($"/sys/class/net/{name}"));
    }
}
