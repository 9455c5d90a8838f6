using System.Buffers.Binary;

namespace Hypervisor.Boot.Multiboot;

/// <summary>The multiboot v1 header of an OS image (Multiboot Specification 0.6.96, 3.1).</summary>
public sealed record MultibootHeader(
    int FileOffset,
    uint Flags,
    uint HeaderAddress,
    uint LoadAddress,
    uint LoadEndAddress,
    uint BssEndAddress,
    uint EntryAddress)
{
    public const uint Magic = 0x1BAD_B002;

    /// <summary>The header lies within the first 8192 bytes, 32-bit aligned (3.1.1).</summary>
    public const int SearchLength = 8192;

    public const uint PageAlignModules = 1 << 0;
    public const uint MemoryInfo = 1 << 1;
    public const uint VideoMode = 1 << 2;
    public const uint AoutKludge = 1 << 16;

    /// <summary>
    /// Bits 0-15 are requirements: a loader that does not understand one must refuse the image (3.1.2). hv
    /// honours 0 and 1; the video mode of bit 2 is a preference it may leave unanswered, as QEMU does.
    /// </summary>
    private const uint UnderstoodRequirements = PageAlignModules | MemoryInfo | VideoMode;

    public bool HasAddressFields => (Flags & AoutKludge) != 0;

    /// <summary>Finds and validates the header; null when the image has none.</summary>
    public static MultibootHeader? Find(ReadOnlySpan<byte> image, string name)
    {
        int limit = Math.Min(image.Length, SearchLength) - 12;
        for (int offset = 0; offset <= limit; offset += 4)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(image[offset..]) != Magic) continue;
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(image[(offset + 4)..]);
            uint checksum = BinaryPrimitives.ReadUInt32LittleEndian(image[(offset + 8)..]);
            if (unchecked(Magic + flags + checksum) != 0)
                throw new BootImageException(name,
                    $"bad multiboot header at offset 0x{offset:x}: magic + flags + checksum is 0x{unchecked(Magic + flags + checksum):x8}, not 0");
            uint unknown = flags & 0xFFFF & ~UnderstoodRequirements;
            if (unknown != 0)
                throw new BootImageException(name, $"the multiboot header requires features hv does not know (flags 0x{unknown:x})");
            if ((flags & AoutKludge) == 0)
                return new MultibootHeader(offset, flags, 0, 0, 0, 0, 0);
            if (offset + 32 > image.Length)
                throw new BootImageException(name, "truncated multiboot header: the address fields are missing");
            var fields = image.Slice(offset, 32);
            return new MultibootHeader(offset, flags, Field(fields, 12), Field(fields, 16), Field(fields, 20),
                Field(fields, 24), Field(fields, 28));
        }
        return null;
    }

    private static uint Field(ReadOnlySpan<byte> header, int offset) =>
        BinaryPrimitives.ReadUInt32LittleEndian(header[offset..]);
}
