using Hypervisor.Cli.Parsing;
using Hypervisor.Machine;

namespace Hypervisor.Cli.Tests.Parsing;

public class ConsolePortSpecParserTests
{
    [Fact]
    public void NameWithOutputAndInputFiles()
    {
        Assert.Equal(new ConsolePortConfig("org.hv.test", "/tmp/out,x", "/tmp/in"),
            ConsolePortSpecParser.Parse("org.hv.test,file=/tmp/out,,x,input=/tmp/in"));
        Assert.Equal(new ConsolePortConfig("p", null, null), ConsolePortSpecParser.Parse("p"));
    }

    [Theory]
    [InlineData("", "the port name comes first")]
    [InlineData("file=/tmp/x", "the port name comes first")]
    [InlineData("p,file=/a,file=/b", "'file' is given twice")]
    [InlineData("p,socket=/a", "unknown option 'socket'")]
    [InlineData("p,file", "'file' is not key=value")]
    public void BadSpecsAreRefused(string spec, string message)
    {
        var e = Assert.Throws<UsageException>(() => ConsolePortSpecParser.Parse(spec));
        Assert.Contains(message, e.Message);
    }
}
