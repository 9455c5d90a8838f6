using Hypervisor.Cli.Parsing;
using Hypervisor.Machine;

namespace Hypervisor.Cli.Tests.Parsing;

public class NetSpecParserTests
{
    [Fact]
    public void User_networking_defaults_to_a_virtio_card()
    {
        NetConfig net = NetSpecParser.Parse("user");
        Assert.Equal("user", net.Backend);
        Assert.Equal("virtio", net.Model);
        Assert.Empty(net.Options);
    }

    [Fact]
    public void Tap_with_pcnet_model_keeps_backend_options_and_strips_the_model()
    {
        NetConfig net = NetSpecParser.Parse("tap,ifname=tap0,model=pcnet,mac=52:54:00:12:34:56");
        Assert.Equal("tap", net.Backend);
        Assert.Equal("pcnet", net.Model);
        Assert.Equal(new Dictionary<string, string> { ["ifname"] = "tap0", ["mac"] = "52:54:00:12:34:56" }, net.Options);
    }

    [Fact]
    public void Socket_path_may_contain_escaped_commas()
    {
        NetConfig net = NetSpecParser.Parse("socket,path=/tmp/a,,b.sock");
        Assert.Equal("/tmp/a,b.sock", net.Options["path"]);
    }

    [Theory]
    [InlineData("vde,sock=/x", "backend 'vde' is not one of user, tap, socket")]
    [InlineData("", "backend '' is not one of")]
    [InlineData("user,model=e1000", "model 'e1000' is not one of virtio, pcnet")]
    [InlineData("tap", "the tap backend needs ifname=")]
    [InlineData("socket,model=pcnet", "the socket backend needs path=")]
    [InlineData("user,restrict", "'restrict' is not key=value")]
    [InlineData("user,=x", "'=x' is not key=value")]
    [InlineData("tap,ifname=a,ifname=b", "'ifname' is given twice")]
    [InlineData("user,mac=52:54:00:12:34", "mac '52:54:00:12:34' is not six hex bytes")]
    public void Rejects_bad_specs_with_the_reason(string spec, string reason)
    {
        var error = Assert.Throws<UsageException>(() => NetSpecParser.Parse(spec));
        Assert.Contains(reason, error.Message);
        Assert.StartsWith("--net", error.Message);
    }
}
