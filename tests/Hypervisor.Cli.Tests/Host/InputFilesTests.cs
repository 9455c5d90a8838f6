using Hypervisor.Cli.Host;
using Hypervisor.Cli.Parsing;

namespace Hypervisor.Cli.Tests.Host;

public class InputFilesTests
{
    [Fact]
    public void Missing_files_and_directories_are_named_in_the_error()
    {
        using var files = new TempFiles();
        Assert.Equal($"--kernel '{files.PathOf("nope")}' does not exist",
            Assert.Throws<UsageException>(() => InputFiles.RequireReadable(files.PathOf("nope"), "--kernel")).Message);
        Assert.Equal($"--kernel '{files.Directory}' is a directory, not a file",
            Assert.Throws<UsageException>(() => InputFiles.RequireReadable(files.Directory, "--kernel")).Message);
    }

    [Fact]
    public void Recognizes_the_qcow2_magic()
    {
        using var files = new TempFiles();
        Assert.True(InputFiles.LooksLikeQcow2(files.Write("a.qcow2", [0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3])));
        Assert.False(InputFiles.LooksLikeQcow2(files.Write("a.img", new byte[512])));
        Assert.False(InputFiles.LooksLikeQcow2(files.Write("short", [0x51, 0x46])));
    }
}
