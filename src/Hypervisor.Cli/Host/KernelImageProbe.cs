using System.Buffers.Binary;

namespace Hypervisor.Cli.Host;

/// <summary>
/// Recognizes the kernel formats --kernel takes before any guest memory is reserved, so a wrong file is a
/// one-line error. The loaders in Hypervisor.Boot do the full checks.
/// </summary>
public static class KernelImageProbe
{
    public enum Kind
    {
        Unknown,
        LinuxBzImage,
        Multiboot,
    }

    // Linux boot protocol: "HdrS" at offset 0x202 of the setup header (Documentation/x86/boot.rst).
    private const int SetupHeaderMagicOffset = 0x202;
    private const uint SetupHeaderMagic = 0x53726448;

    // Multiboot 1 spec 3.1.1: the header is 32-bit aligned within the first 8192 bytes, and
    // magic + flags + checksum == 0 (mod 2^32).
    private const int MultibootSearchLength = 8192;
    private const uint MultibootMagic = 0x1BADB002;

    public static Kind Identify(ReadOnlySpan<byte> head)
    {
        if (head.Length >= SetupHeaderMagicOffset + 4
            && BinaryPrimitives.ReadUInt32LittleEndian(head[SetupHeaderMagicOffset..]) == SetupHeaderMagic)
            return Kind.LinuxBzImage;

        int end = Math.Min(head.Length, MultibootSearchLength) - 12;
        for (int offset = 0; offset <= end; offset += 4)
        {
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(head[offset..]);
            if (magic != MultibootMagic) continue;
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(head[(offset + 4)..]);
            uint checksum = BinaryPrimitives.ReadUInt32LittleEndian(head[(offset + 8)..]);
            if (unchecked(magic + flags + checksum) == 0) return Kind.Multiboot;
        }
        return Kind.Unknown;
    }

    /// <summary>The first bytes of a file, as many as identification needs.</summary>
    public static byte[] ReadHead(string path)
    {
        using FileStream stream = File.OpenRead(path);
        byte[] buffer = new byte[MultibootSearchLength];
        int length = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        return buffer[..length];
    }
}
