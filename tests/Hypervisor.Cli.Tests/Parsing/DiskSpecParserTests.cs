using Hypervisor.Cli.Parsing;
using Hypervisor.Machine;

namespace Hypervisor.Cli.Tests.Parsing;

public class DiskSpecParserTests
{
    [Fact]
    public void A_bare_path_is_a_writable_raw_disk()
    {
        Assert.Equal(new DiskConfig("disk.img", DiskFormat.Raw, false), DiskSpecParser.Parse("disk.img"));
    }

    [Theory]
    [InlineData("a.qcow2,format=qcow2", "a.qcow2", DiskFormat.Qcow2, false)]
    [InlineData("a.img,readonly", "a.img", DiskFormat.Raw, true)]
    [InlineData("a.img,readonly=on,format=raw", "a.img", DiskFormat.Raw, true)]
    [InlineData("a.img,readonly=off", "a.img", DiskFormat.Raw, false)]
    [InlineData("a.img,ro", "a.img", DiskFormat.Raw, true)]
    [InlineData("my,,disk.img,format=qcow2,readonly", "my,disk.img", DiskFormat.Qcow2, true)]
    public void Parses_format_and_readonly(string spec, string path, DiskFormat format, bool readOnly)
    {
        Assert.Equal(new DiskConfig(path, format, readOnly), DiskSpecParser.Parse(spec));
    }

    [Theory]
    [InlineData(",format=raw", "has no path")]
    [InlineData("a.img,format=vmdk", "format 'vmdk' is not one of raw, qcow2")]
    [InlineData("a.img,readonly=maybe", "readonly 'maybe' is not on or off")]
    [InlineData("a.img,cache=none", "unknown option 'cache'")]
    [InlineData("a.img,format=raw,format=qcow2", "'format' is given twice")]
    public void Rejects_bad_specs_with_the_reason(string spec, string reason)
    {
        var error = Assert.Throws<UsageException>(() => DiskSpecParser.Parse(spec));
        Assert.Contains(reason, error.Message);
        Assert.StartsWith("--disk", error.Message);
    }

    [Theory]
    [InlineData("a.img", false)]
    [InlineData("a.img,readonly", false)]
    [InlineData("a.img,format=raw", true)]
    [InlineData("format=raw.img", false)]
    public void Knows_whether_the_format_was_given(string spec, bool expected)
    {
        Assert.Equal(expected, DiskSpecParser.HasExplicitFormat(spec));
    }
}
