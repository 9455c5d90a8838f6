using System.Buffers.Binary;

namespace Hypervisor.Boot.Tests.Linux;

/// <summary>A minimal bzImage: a setup header with the given fields and a protected-mode kernel of filler.</summary>
internal sealed record SyntheticBzImage(
    ushort Protocol = 0x020F,
    byte SetupSects = 4,
    bool Relocatable = true,
    ushort XLoadFlags = 1,
    ulong PrefAddress = 0x100_0000,
    uint KernelAlignment = 0x20_0000,
    uint InitSize = 0x40_0000,
    int KernelSize = 0x2_0000,
    uint InitrdAddressMax = 0x7FFF_FFFF)
{
    public byte[] Build()
    {
        int sects = SetupSects == 0 ? 4 : SetupSects;
        var file = new byte[(sects + 1) * 512 + KernelSize];
        var s = file.AsSpan();
        s[0x1F1] = SetupSects;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x1F4..], (uint)(KernelSize / 16));
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x1FE..], 0xAA55);
        s[0x200] = 0xEB;
        s[0x201] = 0x6A; // jump over the header to 0x26C, as 2.15 kernels do
        "HdrS"u8.CopyTo(s[0x202..]);
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x206..], Protocol);
        s[0x211] = 0x01;
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x214..], 0x100000);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x22C..], InitrdAddressMax);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x230..], KernelAlignment);
        s[0x234] = Relocatable ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt16LittleEndian(s[0x236..], XLoadFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x238..], 2047);
        BinaryPrimitives.WriteUInt64LittleEndian(s[0x258..], PrefAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(s[0x260..], InitSize);
        for (int i = (sects + 1) * 512; i < file.Length; i++) file[i] = (byte)(i * 7);
        return file;
    }
}
