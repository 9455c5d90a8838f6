using Hypervisor.Cli.Parsing;

namespace Hypervisor.Cli.Tests.Parsing;

public class SizeParserTests
{
    [Theory]
    [InlineData("512M", 512UL << 20)]
    [InlineData("512m", 512UL << 20)]
    [InlineData("2G", 2UL << 30)]
    [InlineData("2GiB", 2UL << 30)]
    [InlineData("2GB", 2UL << 30)]
    [InlineData("1024", 1024UL << 20)]
    [InlineData("1", 1UL << 20)]
    [InlineData("1.5G", 3UL << 29)]
    [InlineData("65536K", 64UL << 20)]
    [InlineData("4096B", 4096UL)]
    [InlineData("1T", 1UL << 40)]
    [InlineData(" 256M ", 256UL << 20)]
    public void Parses_sizes_with_binary_units_and_bare_numbers_as_MiB(string text, ulong expected)
    {
        Assert.Equal(expected, SizeParser.Parse(text, "--memory"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("12x")]
    [InlineData("-1")]
    [InlineData("1.5.5G")]
    [InlineData("2 G B")]
    [InlineData("512iB")]
    [InlineData("0x100")]
    public void Rejects_malformed_sizes_naming_the_option(string text)
    {
        var error = Assert.Throws<UsageException>(() => SizeParser.Parse(text, "--memory"));
        Assert.StartsWith("--memory", error.Message);
        Assert.Contains("not a size", error.Message);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("0G")]
    [InlineData("0.0M")]
    public void Rejects_zero(string text)
    {
        var error = Assert.Throws<UsageException>(() => SizeParser.Parse(text, "--memory"));
        Assert.Equal("--memory must be greater than zero", error.Message);
    }

    [Fact]
    public void Rejects_fractions_of_a_byte()
    {
        var error = Assert.Throws<UsageException>(() => SizeParser.Parse("1.5B", "--memory"));
        Assert.Contains("whole number of bytes", error.Message);
    }

    [Theory]
    [InlineData("16777216T")]
    [InlineData("99999999999999999999999999999999G")]
    public void Rejects_sizes_beyond_64_bits(string text)
    {
        var error = Assert.Throws<UsageException>(() => SizeParser.Parse(text, "--memory"));
        Assert.Contains("too large", error.Message);
    }

    [Theory]
    [InlineData(512UL << 20, "512M")]
    [InlineData(2UL << 30, "2G")]
    [InlineData(1536UL << 10, "1536K")]
    [InlineData(4097UL, "4097B")]
    public void Format_round_trips(ulong bytes, string text)
    {
        Assert.Equal(text, SizeParser.Format(bytes));
        Assert.Equal(bytes, SizeParser.Parse(text, "size"));
    }

    [Theory]
    [InlineData(512UL << 20, "512 MiB")]
    [InlineData(1536UL << 20, "1.5 GiB")]
    [InlineData(100UL, "100 bytes")]
    public void Describe_is_for_people(ulong bytes, string text)
    {
        Assert.Equal(text, SizeParser.Describe(bytes));
    }
}
