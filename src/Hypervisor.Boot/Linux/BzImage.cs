using System.Buffers.Binary;

namespace Hypervisor.Boot.Linux;

/// <summary>
/// A validated Linux bzImage: its setup header and the protected-mode kernel that follows the real-mode setup
/// code (Documentation/arch/x86/boot.rst).
/// </summary>
public sealed class BzImage
{
    /// <summary>Protocol 2.06 gives cmdline_size and the relocatable fields hv relies on.</summary>
    public const ushort MinimumProtocol = 0x0206;

    private readonly byte[] _file;

    private BzImage(string name, byte[] file, int setupSize)
    {
        Name = name;
        _file = file;
        SetupSize = setupSize;
    }

    /// <summary>The file name used in error messages.</summary>
    public string Name { get; }

    /// <summary>Bytes of real-mode setup code, boot sector included: (setup_sects + 1) * 512.</summary>
    public int SetupSize { get; }

    public ushort Protocol => U16(SetupHeader.Version);
    public byte LoadFlags => _file[SetupHeader.LoadFlags];
    public ushort XLoadFlags => Protocol >= 0x020C ? U16(SetupHeader.XLoadFlags) : (ushort)0;
    public bool Relocatable => _file[SetupHeader.RelocatableKernel] != 0;
    public uint KernelAlignment => U32(SetupHeader.KernelAlignment);
    public uint InitrdAddressMax => U32(SetupHeader.InitrdAddrMax);
    public uint CommandLineSize => U32(SetupHeader.CmdlineSize);
    public ulong PreferredAddress => Protocol >= 0x020A ? U64(SetupHeader.PrefAddress) : BootMemoryLayout.OneMiB;

    /// <summary>Memory the kernel needs from its runtime start while it decompresses and starts (2.10+).</summary>
    public uint InitSize => Protocol >= 0x020A ? U32(SetupHeader.InitSize) : 0;

    /// <summary>XLF_KERNEL_64: the kernel has the 64-bit entry point at load address + 0x200.</summary>
    public bool Supports64BitEntry => (XLoadFlags & SetupHeader.XlfKernel64) != 0;

    public ReadOnlySpan<byte> ProtectedModeKernel => _file.AsSpan(SetupSize);

    /// <summary>
    /// The setup header as boot_params carries it: from 0x1F1 to its end, which is 0x202 plus the byte at
    /// 0x201 (the offset of the jump at 0x200).
    /// </summary>
    public ReadOnlySpan<byte> HeaderBytes => _file.AsSpan(SetupHeader.Start, HeaderEnd - SetupHeader.Start);

    // 0x290 is where boot_params continues after the header (edd_mbr_sig_buffer), so a wild jump byte cannot reach past it.
    private int HeaderEnd => Math.Min(0x202 + _file[0x201], 0x290);

    public static BzImage Load(string path)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BootImageException(path, $"cannot read the kernel: {e.Message}");
        }
        return Parse(file, path);
    }

    /// <summary>Validates <paramref name="file"/>; <paramref name="name"/> is what error messages call it.</summary>
    public static BzImage Parse(byte[] file, string name)
    {
        if (file.Length < 0x250)
            throw new BootImageException(name, $"not a Linux bzImage: only {file.Length} bytes, too short for a setup header");
        if (BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(SetupHeader.BootFlag)) != SetupHeader.BootFlagValue)
            throw new BootImageException(name, "not a Linux bzImage: no 0xAA55 boot flag at offset 0x1FE");
        if (BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(SetupHeader.Header)) != SetupHeader.HeaderMagic)
            throw new BootImageException(name, "not a Linux bzImage: no \"HdrS\" setup header magic at offset 0x202");

        ushort protocol = BinaryPrimitives.ReadUInt16LittleEndian(file.AsSpan(SetupHeader.Version));
        if (protocol < MinimumProtocol)
            throw new BootImageException(name,
                $"Linux boot protocol {protocol >> 8}.{protocol & 0xFF:d2} is too old; hv needs 2.06 or newer");
        if ((file[SetupHeader.LoadFlags] & SetupHeader.LoadedHigh) == 0)
            throw new BootImageException(name, "a zImage (loaded at 0x10000) is not supported; only bzImage kernels are");

        // setup_sects 0 means 4 for compatibility with the oldest kernels (boot.rst, "Details of header fields").
        int setupSects = file[SetupHeader.SetupSects] == 0 ? 4 : file[SetupHeader.SetupSects];
        int setupSize = (setupSects + 1) * 512;
        if (file.Length <= setupSize)
            throw new BootImageException(name, $"truncated bzImage: {file.Length} bytes, but the setup code alone takes {setupSize}");
        long declared = (long)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(SetupHeader.SysSize)) * 16;
        if (file.Length - setupSize < declared)
            throw new BootImageException(name,
                $"truncated bzImage: the header declares {declared} bytes of kernel after the setup code, the file has {file.Length - setupSize}");
        return new BzImage(name, file, setupSize);
    }

    private ushort U16(int offset) => BinaryPrimitives.ReadUInt16LittleEndian(_file.AsSpan(offset));
    private uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(_file.AsSpan(offset));
    private ulong U64(int offset) => BinaryPrimitives.ReadUInt64LittleEndian(_file.AsSpan(offset));
}
