using Hypervisor.Platform.Io;

namespace Hypervisor.Platform.Tests.Io;

public class BusTests
{
    private sealed class Recorder : IBusDevice
    {
        public readonly List<string> Log = [];

        public void Read(ulong baseAddress, ulong offset, Span<byte> data)
        {
            Log.Add($"R {baseAddress:x}+{offset} {data.Length}");
            BusData.From(data, 0x1122334455667788UL);
        }

        public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data) =>
            Log.Add($"W {baseAddress:x}+{offset} {BusData.ToUInt64(data):x}");
    }

    [Fact]
    public void RoutesToTheDeviceWithBaseAndOffset()
    {
        var bus = new PortIoBus();
        var a = new Recorder();
        var b = new Recorder();
        bus.Register(0x3F8, 8, a, "com1");
        bus.Register(0x2F8, 8, b, "com2");
        Span<byte> data = stackalloc byte[2];
        Assert.True(bus.Read(0x3FD, data));
        Assert.True(bus.Write(0x2F8, [0xAB]));
        Assert.Equal(["R 3f8+5 2"], a.Log);
        Assert.Equal(["W 2f8+0 ab"], b.Log);
        Assert.Equal(0x7788u, BusData.ToUInt32(data));
    }

    [Fact]
    public void UnclaimedReadsFloatHighAndWritesAreDropped()
    {
        var bus = new MmioBus();
        Span<byte> data = stackalloc byte[4];
        Assert.False(bus.Read(0xFEBF_0000, data));
        Assert.Equal(0xFFFF_FFFFu, BusData.ToUInt32(data));
        Assert.False(bus.Write(0xFEBF_0000, data));
    }

    [Theory]
    [InlineData(0x60UL, 1UL)]
    [InlineData(0x5FUL, 2UL)]
    [InlineData(0x64UL, 1UL)]
    [InlineData(0x50UL, 0x100UL)]
    public void OverlapsAreRejected(ulong start, ulong length)
    {
        var bus = new MmioBus();
        bus.Register(0x60, 5, new Recorder(), "kbd");
        var e = Assert.Throws<InvalidOperationException>(() => bus.Register(start, length, new Recorder(), "other"));
        Assert.Contains("kbd", e.Message);
    }

    [Fact]
    public void AdjacentRangesAndUnregisterWork()
    {
        var bus = new MmioBus();
        var a = new Recorder();
        var b = new Recorder();
        bus.Register(0x1000, 0x1000, a, "a");
        bus.Register(0x2000, 0x1000, b, "b");
        Assert.True(bus.TryFind(0x1FFF, out var r) && r.Device == a);
        Assert.True(bus.TryFind(0x2000, out r) && r.Device == b);
        Assert.True(bus.Unregister(0x1000));
        Assert.False(bus.TryFind(0x1FFF, out _));
        bus.Register(0x1800, 0x800, a, "a moved");
        Assert.True(bus.TryFind(0x1800, out r) && r.Device == a);
    }

    [Fact]
    public void PortRangesPastTheTopOfIoSpaceAreRejected() =>
        Assert.Throws<ArgumentException>(() => new PortIoBus().Register(0xFFFF, 2, new Recorder(), "x"));

    [Fact]
    public void BusDataIsLittleEndianForEverySize()
    {
        Span<byte> data = stackalloc byte[3];
        BusData.From(data, 0xAABBCCDD);
        Assert.Equal([0xDD, 0xCC, 0xBB], data.ToArray());
        Assert.Equal(0xBBCCDDu, BusData.ToUInt32(data));
    }
}
