using System.Buffers.Binary;
using Hypervisor.Devices.Virtio;
using Hypervisor.Devices.Virtio.Block;
using Hypervisor.Storage;
using static Hypervisor.Devices.Virtio.Block.VirtioBlkConstants;

namespace Hypervisor.Devices.Tests.Virtio;

/// <summary>virtio-blk requests end to end: guest rings, the device's I/O thread, a real raw image file.</summary>
public sealed class VirtioBlkTests : IDisposable
{
    private const int Sectors = 64;
    private const ulong Header = 0x20_0000;
    private const ulong Data = 0x21_0000;
    private const ulong StatusByte = 0x22_0000;
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"hv-blk-{Guid.NewGuid():N}.img");
    private VirtioPciHarness? _harness;
    private SplitRingDriver? _ring;
    private int _nextHead;

    public VirtioBlkTests()
    {
        var image = new byte[Sectors * 512];
        for (int i = 0; i < image.Length; i++) image[i] = (byte)(i / 512 + 1);
        File.WriteAllBytes(_path, image);
    }

    public void Dispose()
    {
        _harness?.Dispose();
        File.Delete(_path);
    }

    private VirtioPciHarness Start(bool readOnly = false, ulong extraFeatures = 0)
    {
        var backend = RawFileBackend.Open(_path, readOnly);
        _harness = new VirtioPciHarness(memory => new VirtioBlk(memory, backend, "hv-test-disk"));
        _ring = _harness.Start(VirtioPciHarness.FullFeatures | extraFeatures)[0];
        return _harness;
    }

    /// <summary>Sends one request with the given data buffers and waits for its status byte.</summary>
    private (byte Status, uint Used) Request(uint type, ulong sector, params (ulong Address, uint Length, bool Writable)[] data)
    {
        var memory = _harness!.Memory;
        memory.Write(Header, type);
        memory.Write(Header + 4, 0u);
        memory.Write(Header + 8, sector);
        memory.Write(StatusByte, (byte)0xEE);
        var buffers = new List<(ulong, uint, bool)> { (Header, 16, false) };
        buffers.AddRange(data);
        buffers.Add((StatusByte, 1, true));
        _ring!.AddChain(_nextHead, [.. buffers]);
        _nextHead = (_nextHead + buffers.Count) % _ring.Size;
        _harness.Notify(0);
        VirtioPciHarness.WaitUntil(() => _ring.UsedIndex != _ring.LastSeenUsed);
        var used = Assert.Single(_ring.TakeUsed());
        return (memory.Read<byte>(StatusByte), used.Length);
    }

    [Fact]
    public void ConfigurationDescribesTheDisk()
    {
        var h = Start();
        Assert.Equal((ulong)Sectors, h.ReadDeviceConfig(0, 8));
        Assert.Equal((ulong)SizeMax, h.ReadDeviceConfig(8, 4));
        Assert.Equal(VirtioBlk.DefaultQueueSize - 2ul, h.ReadDeviceConfig(12, 4));
        Assert.Equal(512ul, h.ReadDeviceConfig(20, 4));
        Assert.Equal((ulong)MaxDiscardSectors, h.ReadDeviceConfig(36, 4));
        ulong offered = h.DeviceFeatures();
        ulong expected = FeatureSizeMax | FeatureSegMax | FeatureBlockSize | FeatureFlush | FeatureDiscard | FeatureWriteZeroes;
        Assert.Equal(expected, offered & 0xFFFF_FFFF & ~(VirtioFeatures.RingEventIndex | VirtioFeatures.RingIndirectDescriptors));
    }

    [Fact]
    public void ReadsSectorsIntoScatteredBuffers()
    {
        Start();
        var (status, used) = Request(TypeIn, 3, (Data, 512, true), (Data + 0x1000, 1024, true));
        Assert.Equal(StatusOk, status);
        Assert.Equal(1537u, used);
        Assert.All(_harness!.Memory.GetReadOnlySpan(Data, 512).ToArray(), b => Assert.Equal(4, b));
        Assert.All(_harness.Memory.GetReadOnlySpan(Data + 0x1000, 512).ToArray(), b => Assert.Equal(5, b));
        Assert.All(_harness.Memory.GetReadOnlySpan(Data + 0x1200, 512).ToArray(), b => Assert.Equal(6, b));
    }

    [Fact]
    public void WritesReachTheFile()
    {
        Start(extraFeatures: FeatureFlush);
        _harness!.Memory.Write(Data, Enumerable.Repeat((byte)0xA5, 1024).ToArray());
        var (status, used) = Request(TypeOut, 10, (Data, 1024, false));
        Assert.Equal(StatusOk, status);
        Assert.Equal(1u, used);
        Assert.Equal(StatusOk, Request(TypeFlush, 0).Status);
        var image = ReadImage();
        Assert.All(image.AsSpan(10 * 512, 1024).ToArray(), b => Assert.Equal(0xA5, b));
        Assert.Equal(10, image[9 * 512]);
        Assert.Equal(13, image[12 * 512]);
    }

    [Fact]
    public void OutOfRangeSectorsAreIoErrors()
    {
        Start();
        Assert.Equal(StatusIoError, Request(TypeIn, Sectors - 1, (Data, 1024, true)).Status);
        Assert.Equal(StatusIoError, Request(TypeOut, ulong.MaxValue, (Data, 512, false)).Status);
        Assert.Equal(StatusIoError, Request(TypeIn, 0, (Data, 100, true)).Status); // not whole sectors
        Assert.Equal(StatusOk, Request(TypeIn, Sectors - 1, (Data, 512, true)).Status);
    }

    [Fact]
    public void UnknownTypesAreUnsupported()
    {
        Start();
        Assert.Equal(StatusUnsupported, Request(0x1234, 0, (Data, 512, true)).Status);
        Assert.Equal(StatusUnsupported, Request(2, 0).Status); // SCSI passthrough is not offered
    }

    [Fact]
    public void GetIdAnswersTheSerial()
    {
        Start();
        var (status, used) = Request(TypeGetId, 0, (Data, IdBytes, true));
        Assert.Equal(StatusOk, status);
        Assert.Equal(13u, used);
        Assert.Equal("hv-test-disk"u8, _harness!.Memory.GetReadOnlySpan(Data, 12));
    }

    [Fact]
    public void ReadOnlyDiskAdvertisesRoAndRefusesWrites()
    {
        var h = Start(readOnly: true);
        Assert.NotEqual(0ul, h.DeviceFeatures() & FeatureReadOnly);
        Assert.Equal(0ul, h.DeviceFeatures() & (FeatureDiscard | FeatureWriteZeroes));
        Assert.Equal(StatusIoError, Request(TypeOut, 0, (Data, 512, false)).Status);
        Assert.Equal(1, ReadImage()[0]);
        Assert.Equal(StatusOk, Request(TypeIn, 0, (Data, 512, true)).Status);
    }

    [Fact]
    public void WriteZeroesAndDiscardWork()
    {
        Start(extraFeatures: FeatureDiscard | FeatureWriteZeroes);
        WriteSegment(Data, 4, 2, 0);
        WriteSegment(Data + 16, 20, 1, SegmentFlagUnmap);
        Assert.Equal(StatusOk, Request(TypeWriteZeroes, 0, (Data, 32, false)).Status);
        var image = ReadImage();
        Assert.All(image.AsSpan(4 * 512, 1024).ToArray(), b => Assert.Equal(0, b));
        Assert.All(image.AsSpan(20 * 512, 512).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(7, image[6 * 512]);

        WriteSegment(Data, 8, 8, 0);
        Assert.Equal(StatusOk, Request(TypeDiscard, 0, (Data, 16, false)).Status);
        WriteSegment(Data, 8, 8, SegmentFlagUnmap); // unmap is not a discard flag (5.2.6.1)
        Assert.Equal(StatusUnsupported, Request(TypeDiscard, 0, (Data, 16, false)).Status);
        WriteSegment(Data, Sectors - 1, 2, 0);
        Assert.Equal(StatusIoError, Request(TypeWriteZeroes, 0, (Data, 16, false)).Status);
    }

    [Fact]
    public void DiscardWithoutNegotiationIsUnsupported()
    {
        Start();
        WriteSegment(Data, 0, 1, 0);
        Assert.Equal(StatusUnsupported, Request(TypeDiscard, 0, (Data, 16, false)).Status);
    }

    [Fact]
    public void RequestWithoutStatusByteSetsNeedsReset()
    {
        var h = Start();
        _ring!.AddChain(0, (Header, 16, false));
        h.Notify(0);
        VirtioPciHarness.WaitUntil(() => (h.Status & VirtioDeviceStatus.DeviceNeedsReset) != 0);
        Assert.Equal(2, h.ReadIsr()); // the configuration change notification of 2.1.2
    }

    [Fact]
    public void SeveralDisksWorkIndependently()
    {
        Start();
        string second = _path + ".2";
        File.WriteAllBytes(second, Enumerable.Repeat((byte)0x77, 4096).ToArray());
        try
        {
            using var other = new VirtioPciHarness(memory => new VirtioBlk(memory, RawFileBackend.Open(second)));
            var ring = other.Start()[0];
            other.Memory.Write(Header, TypeIn);
            other.Memory.Write(Header + 8, 0ul);
            ring.AddChain(0, (Header, 16, false), (Data, 512, true), (StatusByte, 1, true));
            other.Notify(0);
            Assert.Equal(StatusOk, Request(TypeIn, 0, (Data, 512, true)).Status);
            VirtioPciHarness.WaitUntil(() => ring.UsedIndex == 1);
            Assert.Equal(0x77, other.Memory.Read<byte>(Data));
            Assert.Equal(1, _harness!.Memory.Read<byte>(Data));
        }
        finally
        {
            File.Delete(second);
        }
    }

    private void WriteSegment(ulong at, ulong sector, uint count, uint flags)
    {
        Span<byte> segment = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(segment, sector);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[8..], count);
        BinaryPrimitives.WriteUInt32LittleEndian(segment[12..], flags);
        _harness!.Memory.Write(at, segment);
    }

    private byte[] ReadImage()
    {
        using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
