using Hypervisor.Cli.Parsing;

namespace Hypervisor.Cli.Tests.Parsing;

public class OptionListTests
{
    [Fact]
    public void Splits_on_single_commas_and_unescapes_double_commas()
    {
        Assert.Equal(["a,b.img", "format=raw", "readonly"], OptionList.Split("a,,b.img,format=raw,readonly"));
    }

    [Fact]
    public void Keeps_empty_items_so_callers_can_reject_them()
    {
        Assert.Equal(["", "x", ""], OptionList.Split(",x,"));
    }

    [Fact]
    public void Splits_pairs_at_the_first_equals_sign()
    {
        Assert.Equal(("path", "/tmp/a=b"), OptionList.SplitPair("path=/tmp/a=b"));
        Assert.Equal(("readonly", (string?)null), OptionList.SplitPair("readonly"));
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("on", true)]
    [InlineData("yes", true)]
    [InlineData("off", false)]
    [InlineData("false", false)]
    [InlineData("maybe", null)]
    public void Reads_qemu_booleans(string? value, bool? expected)
    {
        Assert.Equal(expected, OptionList.ParseBool(value));
    }
}
