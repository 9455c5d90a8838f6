using System.Buffers.Binary;
using System.Text;
using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Legacy;

public class FwCfgTests
{
    private readonly PortIoBus _bus = new();
    private readonly FwCfg _fwCfg = new(ramSize: 512UL << 20, cpuCount: 4);

    public FwCfgTests() => _fwCfg.RegisterPorts(_bus);

    private byte[] ReadItem(ushort selector, int length)
    {
        _bus.Out16(0x510, selector);
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = _bus.In8(0x511);
        return data;
    }

    [Fact]
    public void SignatureIsQemu()
    {
        Assert.Equal("QEMU"u8.ToArray(), ReadItem(0x0000, 4));
    }

    [Fact]
    public void IdAdvertisesOnlyTheTraditionalInterface()
    {
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(ReadItem(0x0001, 4)));
    }

    [Fact]
    public void RamSizeAndCpuCountAreLittleEndian()
    {
        Assert.Equal(512UL << 20, BinaryPrimitives.ReadUInt64LittleEndian(ReadItem(0x0003, 8)));
        Assert.Equal(4, BinaryPrimitives.ReadUInt16LittleEndian(ReadItem(0x0005, 2)));
    }

    [Fact]
    public void ReadsPastTheEndAndOfUnknownItemsReturnZero()
    {
        Assert.Equal("QEMU\0\0"u8.ToArray(), ReadItem(0x0000, 6));
        Assert.Equal(new byte[4], ReadItem(0x0123, 4));
    }

    [Fact]
    public void SelectingRestartsTheItemFromItsFirstByte()
    {
        ReadItem(0x0000, 2);
        Assert.Equal((byte)'Q', ReadItem(0x0000, 1)[0]);
    }

    [Fact]
    public void DataWritesAreIgnoredAndTheWriteChannelBitSelectsTheSameItem()
    {
        _bus.Out16(0x510, 0x4000);
        _bus.Out8(0x511, 0x00);
        Assert.Equal("QEMU"u8.ToArray(), ReadItem(0x0000, 4));
        Assert.Equal("QEMU"u8.ToArray(), ReadItem(0x4000, 4));
    }

    [Fact]
    public void FileDirectoryListsFilesWithBigEndianSizesAndSelectors()
    {
        ushort first = _fwCfg.AddFile("etc/boot-fail-wait", new byte[] { 5, 0, 0, 0 });
        ushort second = _fwCfg.AddFile("opt/hv/test", Encoding.ASCII.GetBytes("hello"));
        Assert.Equal(0x20, first);
        Assert.Equal(0x21, second);

        byte[] dir = ReadItem(0x0019, 4 + 2 * 64);
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32BigEndian(dir));
        var entry = dir.AsSpan(4 + 64, 64);
        Assert.Equal(5u, BinaryPrimitives.ReadUInt32BigEndian(entry));
        Assert.Equal(0x21, BinaryPrimitives.ReadUInt16BigEndian(entry[4..]));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(entry[6..]));
        Assert.Equal("opt/hv/test", Encoding.ASCII.GetString(entry[8..]).TrimEnd('\0'));

        Assert.Equal("hello"u8.ToArray(), ReadItem(second, 5));
    }

    [Fact]
    public void EmptyFileDirectoryHasACountOfZero()
    {
        Assert.Equal(new byte[4], ReadItem(0x0019, 4));
    }

    [Fact]
    public void ReplacingAFileUpdatesItsDirectorySize()
    {
        _fwCfg.AddFile("etc/x", new byte[3]);
        _fwCfg.ReplaceFile("etc/x", new byte[300]);
        Assert.Equal(300u, BinaryPrimitives.ReadUInt32BigEndian(ReadItem(0x0019, 8).AsSpan(4)));
        Assert.True(_fwCfg.TryGetFileSelector("etc/x", out ushort key));
        Assert.Equal(0x20, key);
    }

    [Fact]
    public void FileNamesAreCheckedForLengthAndDuplicates()
    {
        _fwCfg.AddFile("a", new byte[1]);
        Assert.Throws<ArgumentException>(() => _fwCfg.AddFile("a", new byte[1]));
        Assert.Throws<ArgumentException>(() => _fwCfg.AddFile(new string('n', 56), new byte[1]));
        _fwCfg.AddFile(new string('n', 55), new byte[1]);
    }

    [Fact]
    public void LinuxBootItemsAndArchLocalItemsAreIndependentKeys()
    {
        _fwCfg.SetString(FwCfg.Keys.CmdlineData, "console=ttyS0");
        _fwCfg.SetUInt32(FwCfg.Keys.CmdlineSize, 14);
        _fwCfg.SetUInt32(FwCfg.Keys.ArchLocal | 0x03, 0xABCD);
        Assert.Equal("console=ttyS0\0"u8.ToArray(), ReadItem(0x15, 14));
        Assert.Equal(14u, BinaryPrimitives.ReadUInt32LittleEndian(ReadItem(0x14, 4)));
        Assert.Equal(0xABCDu, BinaryPrimitives.ReadUInt32LittleEndian(ReadItem(0x8003, 4)));
        Assert.Equal(new byte[4], ReadItem(0x0103, 4));
    }

    [Fact]
    public void DeviceOwnedItemsCannotBeOverwritten()
    {
        Assert.Throws<ArgumentException>(() => _fwCfg.SetBytes(0x0000, new byte[4]));
        Assert.Throws<ArgumentException>(() => _fwCfg.SetBytes(0x0019, new byte[4]));
    }
}
