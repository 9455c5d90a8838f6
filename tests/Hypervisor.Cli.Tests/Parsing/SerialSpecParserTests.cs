using Hypervisor.Cli.Parsing;
using Hypervisor.Machine;

namespace Hypervisor.Cli.Tests.Parsing;

public class SerialSpecParserTests
{
    [Fact]
    public void Parses_the_three_forms()
    {
        Assert.IsType<SerialConfig.Stdio>(SerialSpecParser.Parse("stdio"));
        Assert.IsType<SerialConfig.None>(SerialSpecParser.Parse("none"));
        Assert.Equal(new SerialConfig.File("/tmp/com1.log"), SerialSpecParser.Parse("file=/tmp/com1.log"));
    }

    [Theory]
    [InlineData("file=", "--serial file= needs a path")]
    [InlineData("pty", "--serial 'pty' is not one of stdio, file=PATH, none")]
    [InlineData("STDIO", "--serial 'STDIO' is not one of stdio, file=PATH, none")]
    public void Rejects_anything_else(string spec, string message)
    {
        Assert.Equal(message, Assert.Throws<UsageException>(() => SerialSpecParser.Parse(spec)).Message);
    }
}
