using System.Buffers.Binary;
using Hypervisor.Cli.Host;

namespace Hypervisor.Cli.Tests.Host;

public class KernelImageProbeTests
{
    [Fact]
    public void Recognizes_a_bzImage_by_its_setup_header_magic()
    {
        Assert.Equal(KernelImageProbe.Kind.LinuxBzImage, KernelImageProbe.Identify(TempFiles.BzImageHead()));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(0x1000)]
    [InlineData(8192 - 12)]
    public void Recognizes_a_multiboot_header_anywhere_4_aligned_in_the_first_8_KiB(int offset)
    {
        Assert.Equal(KernelImageProbe.Kind.Multiboot, KernelImageProbe.Identify(TempFiles.MultibootHead(offset)));
    }

    [Fact]
    public void Ignores_a_multiboot_magic_past_8_KiB()
    {
        Assert.Equal(KernelImageProbe.Kind.Unknown, KernelImageProbe.Identify(TempFiles.MultibootHead(8192)));
    }

    [Fact]
    public void Ignores_a_misaligned_multiboot_header()
    {
        byte[] image = TempFiles.MultibootHead(0x1000);
        byte[] shifted = new byte[image.Length];
        image.AsSpan(0, image.Length - 2).CopyTo(shifted.AsSpan(2));
        Assert.Equal(KernelImageProbe.Kind.Unknown, KernelImageProbe.Identify(shifted));
    }

    [Fact]
    public void Ignores_a_multiboot_magic_with_a_bad_checksum()
    {
        byte[] image = TempFiles.MultibootHead(0x1000);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x1008), 0);
        Assert.Equal(KernelImageProbe.Kind.Unknown, KernelImageProbe.Identify(image));
    }

    [Fact]
    public void Short_and_empty_files_are_unknown()
    {
        Assert.Equal(KernelImageProbe.Kind.Unknown, KernelImageProbe.Identify([]));
        Assert.Equal(KernelImageProbe.Kind.Unknown, KernelImageProbe.Identify(new byte[0x204]));
    }

    [Fact]
    public void Reads_only_the_head_of_a_file()
    {
        using var files = new TempFiles();
        string path = files.Write("big", new byte[100_000]);
        Assert.Equal(8192, KernelImageProbe.ReadHead(path).Length);
        Assert.Equal(10, KernelImageProbe.ReadHead(files.Write("small", new byte[10])).Length);
    }
}
