using System.Buffers.Binary;

namespace Hypervisor.Cli.Tests;

/// <summary>A scratch directory with the kinds of files hv run is given, removed after the test.</summary>
public sealed class TempFiles : IDisposable
{
    public TempFiles()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("hv-cli-tests-").FullName;
    }

    public string Directory { get; }

    public string PathOf(string name) => Path.Combine(Directory, name);

    public string Write(string name, byte[] content)
    {
        string path = PathOf(name);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>Just enough of a bzImage: the setup header's "HdrS" magic at 0x202 (Linux boot protocol).</summary>
    public static byte[] BzImageHead()
    {
        byte[] image = new byte[16384];
        image[0x1FE] = 0x55;
        image[0x1FF] = 0xAA;
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        return image;
    }

    /// <summary>A multiboot v1 header (magic, flags, checksum) at a 4-aligned offset inside the first 8 KiB.</summary>
    public static byte[] MultibootHead(int offset = 0x1000, uint flags = 0x00010003)
    {
        byte[] image = new byte[12288];
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(offset), 0x1BADB002);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(offset + 4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(offset + 8), unchecked(0u - 0x1BADB002 - flags));
        return image;
    }

    public void Dispose()
    {
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
