using System.Collections.Concurrent;
using Hypervisor.Network;

namespace Hypervisor.Network.Tests;

/// <summary>A NIC stand-in: keeps every frame delivered, or answers NoRoom while <see cref="Full"/>.</summary>
internal sealed class CollectingSink : INetFrameSink
{
    private readonly BlockingCollection<byte[]> _frames = [];

    public volatile bool Full;

    public int Count => _frames.Count;

    public NetDelivery Deliver(ReadOnlySpan<byte> frame)
    {
        if (Full) return NetDelivery.NoRoom;
        _frames.Add(frame.ToArray());
        return NetDelivery.Delivered;
    }

    public byte[] WaitForFrame()
    {
        Assert.True(_frames.TryTake(out var frame, TimeSpan.FromSeconds(5)), "no frame arrived within 5 s");
        return frame;
    }
}
