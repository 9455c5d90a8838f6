using Hypervisor.Network;
using Hypervisor.Network.VmLink;

namespace Hypervisor.Network.Tests;

public sealed class VmLinkBackendTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"hv-vmlink-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);

    private static readonly MacAddress A = new(0x52_54_00_00_00_0A);
    private static readonly MacAddress B = new(0x52_54_00_00_00_0B);
    private static readonly MacAddress C = new(0x52_54_00_00_00_0C);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static byte[] Frame(MacAddress destination, MacAddress source, int length = 64, byte fill = 0x5A)
    {
        var frame = new byte[length];
        frame.AsSpan(12).Fill(fill);
        destination.Write(frame);
        source.Write(frame.AsSpan(6));
        return frame;
    }

    [Fact]
    public void BroadcastReachesEveryOtherPortAndUnicastOnlyTheLearnedOne()
    {
        using var a = VmLinkBackend.Open(_dir);
        using var b = VmLinkBackend.Open(_dir);
        using var c = VmLinkBackend.Open(_dir);
        var sinkA = new CollectingSink();
        var sinkB = new CollectingSink();
        var sinkC = new CollectingSink();
        a.Start(sinkA);
        b.Start(sinkB);
        c.Start(sinkC);

        // A broadcasts (an ARP request, say): B and C get it, and both learn where A is.
        var hello = Frame(MacAddress.Broadcast, A, fill: 1);
        Assert.True(a.Send(hello));
        Assert.Equal(hello, sinkB.WaitForFrame());
        Assert.Equal(hello, sinkC.WaitForFrame());

        // B answers A by unicast: only A gets it (C has no copy), and A learns B.
        var reply = Frame(A, B, fill: 2);
        Assert.True(b.Send(reply));
        Assert.Equal(reply, sinkA.WaitForFrame());
        var toB = Frame(B, A, length: 1514, fill: 3);
        Assert.True(a.Send(toB));
        Assert.Equal(toB, sinkB.WaitForFrame());
        Thread.Sleep(200);
        Assert.Equal(0, sinkC.Count);
        Assert.Equal(0, sinkA.Count);
    }

    [Fact]
    public void UnknownUnicastIsFloodedAndAVanishedPeerIsForgotten()
    {
        using var a = VmLinkBackend.Open(_dir);
        var b = VmLinkBackend.Open(_dir);
        var sinkA = new CollectingSink();
        var sinkB = new CollectingSink();
        a.Start(sinkA);
        b.Start(sinkB);
        var frame = Frame(C, A);
        Assert.True(a.Send(frame));
        Assert.Equal(frame, sinkB.WaitForFrame());
        string gone = b.SocketPath;
        b.Dispose();
        Assert.False(File.Exists(gone));
        Thread.Sleep(1100); // past the peer list's lifetime
        Assert.False(a.Send(frame));
    }

    [Fact]
    public void FramesWaitWhileTheSinkHasNoRoom()
    {
        using var a = VmLinkBackend.Open(_dir);
        using var b = VmLinkBackend.Open(_dir);
        var sinkB = new CollectingSink { Full = true };
        a.Start(new CollectingSink());
        b.Start(sinkB);
        var first = Frame(MacAddress.Broadcast, A, fill: 1);
        var second = Frame(MacAddress.Broadcast, A, fill: 2);
        Assert.True(a.Send(first));
        Assert.True(a.Send(second));
        Thread.Sleep(150);
        Assert.Equal(0, sinkB.Count);
        sinkB.Full = false;
        b.ResumeReceive();
        Assert.Equal(first, sinkB.WaitForFrame());
        Assert.Equal(second, sinkB.WaitForFrame());
    }

    [Fact]
    public void APathThatIsAFileIsRefusedClearly()
    {
        Directory.CreateDirectory(_dir);
        string file = Path.Combine(_dir, "file");
        File.WriteAllText(file, "x");
        var e = Assert.Throws<NetBackendException>(() => VmLinkBackend.Open(file));
        Assert.Contains("not a directory", e.Message);
    }

    [Fact]
    public void APathTooLongForASocketIsRefusedClearly()
    {
        string deep = Path.Combine(_dir, new string('d', 120));
        var e = Assert.Throws<NetBackendException>(() => VmLinkBackend.Open(deep));
        Assert.Contains("too long", e.Message);
    }

    [Fact]
    public void ADirectoryThatCannotBeCreatedIsRefusedClearly()
    {
        Directory.CreateDirectory(_dir);
        string file = Path.Combine(_dir, "file");
        File.WriteAllText(file, "x");
        var e = Assert.Throws<NetBackendException>(() => VmLinkBackend.Open(Path.Combine(file, "sub")));
        Assert.Contains("cannot create", e.Message);
    }
}
