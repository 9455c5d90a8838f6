namespace Hypervisor.Boot.Firmware;

/// <summary>
/// A system BIOS image (hv's own or another, such as SeaBIOS's bios.bin) as the flash chip of a PC holds it: the
/// whole image is decoded just below 4 GiB, so its last 16 bytes hold the reset vector at 0xFFFFFFF0, and its last
/// 128 KiB also answer at 0xE0000-0xFFFFF (the ISA BIOS range the PIIX3 forwards to the flash).
/// </summary>
public sealed class BiosImage
{
    /// <summary>Flash parts come in 64 KiB blocks; QEMU's pc machine requires the same granularity.</summary>
    public const int Granularity = 0x1_0000;

    /// <summary>The largest image the 16 MiB below 4 GiB can hold (0xFF000000-0xFFFFFFFF).</summary>
    public const int MaxSize = 16 << 20;

    /// <summary>The ISA BIOS window 0xE0000-0xFFFFF shows the image's last 128 KiB.</summary>
    public const ulong LowAliasStart = 0xE_0000;
    public const int LowAliasSize = 0x2_0000;

    private BiosImage(string name, byte[] data)
    {
        Name = name;
        Data = data;
    }

    public string Name { get; }
    public byte[] Data { get; }

    /// <summary>Where the image starts: it ends at 4 GiB.</summary>
    public ulong Address => 0x1_0000_0000UL - (ulong)Data.Length;

    /// <summary>The bytes shown at 0xE0000-0xFFFFF (the whole image when it is smaller than 128 KiB).</summary>
    public ReadOnlySpan<byte> LowAlias => Data.AsSpan(Math.Max(0, Data.Length - LowAliasSize));

    public static BiosImage Read(string path) => Parse(BootFile.Read(path));

    public static BiosImage Parse(BootFile file)
    {
        int length = file.Data.Length;
        if (length == 0)
            throw new BootImageException(file.Name, "the BIOS image is empty");
        if (length % Granularity != 0)
            throw new BootImageException(file.Name,
                $"a BIOS image must be a multiple of 64 KiB, this one is {length} bytes");
        if (length > MaxSize)
            throw new BootImageException(file.Name,
                $"a BIOS image can be at most 16 MiB (0xFF000000-0xFFFFFFFF), this one is {length >> 20} MiB");
        return new BiosImage(file.Name, file.Data);
    }
}
