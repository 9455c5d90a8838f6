using System.Buffers.Binary;
using Hypervisor.Network;
using Hypervisor.Platform.Memory;
using static Hypervisor.Devices.Virtio.Net.VirtioNetConstants;

namespace Hypervisor.Devices.Virtio.Net;

/// <summary>
/// virtio-net (VIRTIO 1.2, 5.1) on an <see cref="INetBackend"/>: receiveq1 and transmitq1, a MAC address
/// (VIRTIO_NET_F_MAC), link status (VIRTIO_NET_F_STATUS) and mergeable receive buffers
/// (VIRTIO_NET_F_MRG_RXBUF). Received frames are copied into the guest's buffers on the backend's receive thread;
/// when none are posted the backend holds the frame until the guest refills the queue. A frame that cannot fit
/// (a short non-mergeable buffer) is dropped and counted, its buffer handed back empty, which Linux recycles.
/// Transmission runs on the notifying thread: each chain is one header plus one frame.
/// </summary>
public sealed class VirtioNet : VirtioDevice, INetFrameSink
{
    public const ushort DefaultQueueSize = 256;

    private readonly INetBackend _backend;
    private readonly byte[] _transmit = new byte[HeaderSize + MaxFrameSize];
    private readonly object _transmitLock = new();
    private readonly ushort[] _rxHeads;
    private readonly uint[] _rxLengths;
    private bool _linkUp = true;
    private int _generation;
    private long _rxPackets, _rxDropped, _txPackets, _txDropped;

    public VirtioNet(GuestMemory memory, INetBackend backend, MacAddress mac, ushort queueSize = DefaultQueueSize)
        : base(VirtioDeviceType.Network, memory, 2, queueSize)
    {
        _backend = backend;
        Mac = mac;
        _rxHeads = new ushort[queueSize];
        _rxLengths = new uint[queueSize];
    }

    public MacAddress Mac { get; }
    public INetBackend Backend => _backend;

    public long ReceivedPackets => Interlocked.Read(ref _rxPackets);
    public long ReceiveDropped => Interlocked.Read(ref _rxDropped);
    public long TransmittedPackets => Interlocked.Read(ref _txPackets);
    public long TransmitDropped => Interlocked.Read(ref _txDropped);

    protected override ulong DeviceFeatures => FeatureMac | FeatureStatus | FeatureMergeableRxBuffers;

    public override int ConfigSize => VirtioNetConstants.ConfigSize;

    public bool LinkUp
    {
        get
        {
            lock (SyncRoot) return _linkUp;
        }
    }

    /// <summary>Cable in or out: the status field changes and the driver gets a configuration change notification.</summary>
    public void SetLinkUp(bool up)
    {
        lock (SyncRoot)
        {
            if (_linkUp == up) return;
            _linkUp = up;
            if (HasFeature(FeatureStatus)) SignalConfigChange();
        }
    }

    public override void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[VirtioNetConstants.ConfigSize];
        Mac.Write(config);
        BinaryPrimitives.WriteUInt16LittleEndian(config[6..], _linkUp ? StatusLinkUp : (ushort)0);
        BinaryPrimitives.WriteUInt16LittleEndian(config[8..], 1);
        data.Clear();
        if (offset < config.Length) config[offset..Math.Min(config.Length, offset + data.Length)].CopyTo(data);
    }

    /// <summary>Frames flow from the moment a transport carries the device.</summary>
    protected override void OnAttached() => _backend.Start(this);

    protected override void OnReset() => _generation++;

    protected override void OnQueueNotified(VirtQueue queue)
    {
        if (queue.Index == ReceiveQueue) _backend.ResumeReceive();
        else if (queue.Index == TransmitQueue) Transmit(queue);
    }

    NetDelivery INetFrameSink.Deliver(ReadOnlySpan<byte> frame)
    {
        try
        {
            lock (SyncRoot)
            {
                var queue = Queues[ReceiveQueue];
                if (!IsLive(queue) || !_linkUp || frame.Length < _backend.VnetHeaderSize)
                    return Drop();
                Span<byte> header = stackalloc byte[HeaderSize];
                header.Clear();
                // A backend header (TAP with IFF_VNET_HDR) passes through; num_buffers is the device's to set.
                frame[..Math.Min(_backend.VnetHeaderSize, NumBuffersOffset)].CopyTo(header);
                var payload = frame[_backend.VnetHeaderSize..];
                return HasFeature(FeatureMergeableRxBuffers)
                    ? ReceiveMergeable(queue, header, payload)
                    : ReceiveSingle(queue, header, payload);
            }
        }
        catch (GuestMemoryException e)
        {
            lock (SyncRoot) Fail(Queues[ReceiveQueue], e.Message);
            return Drop();
        }
    }

    /// <summary>Without VIRTIO_NET_F_MRG_RXBUF: one chain holds header and frame, num_buffers is 1 (5.1.6.4).</summary>
    private NetDelivery ReceiveSingle(VirtQueue queue, Span<byte> header, ReadOnlySpan<byte> payload)
    {
        var popped = Pop(queue, out var chain);
        if (popped == VirtQueuePopResult.Empty) return NetDelivery.NoRoom;
        if (popped == VirtQueuePopResult.Error) return Drop();
        if (chain.WritableLength < HeaderSize + payload.Length)
        {
            Complete(queue, chain.Head, 0);
            SignalIfNeeded(queue);
            return Drop();
        }
        BinaryPrimitives.WriteUInt16LittleEndian(header[NumBuffersOffset..], 1);
        chain.Write(0, header);
        chain.Write(HeaderSize, payload);
        Complete(queue, chain.Head, (uint)(HeaderSize + payload.Length));
        SignalIfNeeded(queue);
        Interlocked.Increment(ref _rxPackets);
        return NetDelivery.Delivered;
    }

    /// <summary>
    /// With VIRTIO_NET_F_MRG_RXBUF: the packet spreads over as many chains as it needs, num_buffers in the first
    /// header says how many, and their used elements are published together (5.1.6.4). If the ring runs dry
    /// midway the chains go back unused and the frame waits.
    /// </summary>
    private NetDelivery ReceiveMergeable(VirtQueue queue, Span<byte> header, ReadOnlySpan<byte> payload)
    {
        int total = HeaderSize + payload.Length;
        int used = 0, done = 0;
        ulong numBuffersLow = 0, numBuffersHigh = 0;
        while (done < total)
        {
            // A whole ring of chains is at most Size (<= the arrays' length) pops; the next one finds it empty.
            DescriptorChain chain = default;
            var popped = used == _rxHeads.Length ? VirtQueuePopResult.Empty : Pop(queue, out chain);
            if (popped == VirtQueuePopResult.Error) return Drop();
            if (popped == VirtQueuePopResult.Empty)
            {
                queue.Unpop(used);
                return NetDelivery.NoRoom;
            }
            int n;
            if (used == 0)
            {
                // The whole header goes in the first buffer; its num_buffers is patched once the count is known.
                if (chain.WritableLength < HeaderSize || !FindHeaderField(chain, out numBuffersLow, out numBuffersHigh))
                {
                    Complete(queue, chain.Head, 0);
                    SignalIfNeeded(queue);
                    return Drop();
                }
                chain.Write(0, header);
                n = HeaderSize + chain.Write(HeaderSize, payload);
            }
            else
            {
                n = chain.Write(0, payload[(done - HeaderSize)..]);
            }
            _rxHeads[used] = chain.Head;
            _rxLengths[used] = (uint)n;
            used++;
            done += n;
        }
        Memory.Write(numBuffersLow, (byte)used);
        Memory.Write(numBuffersHigh, (byte)(used >> 8));
        for (int i = 0; i < used; i++) Stage(queue, _rxHeads[i], _rxLengths[i]);
        PublishStaged(queue);
        SignalIfNeeded(queue);
        Interlocked.Increment(ref _rxPackets);
        return NetDelivery.Delivered;
    }

    /// <summary>The guest addresses of num_buffers' two bytes in the chain's writable part (they may straddle buffers).</summary>
    private static bool FindHeaderField(in DescriptorChain chain, out ulong low, out ulong high)
    {
        low = high = 0;
        long position = 0;
        bool foundLow = false;
        foreach (ref readonly var d in chain.Writable)
        {
            for (int b = 0; b < 2; b++)
            {
                long at = NumBuffersOffset + b;
                if (at < position || at >= position + d.Length) continue;
                ulong address = d.Address + (ulong)(at - position);
                if (b == 0)
                {
                    low = address;
                    foundLow = true;
                }
                else
                {
                    high = address;
                    return foundLow;
                }
            }
            position += d.Length;
        }
        return false;
    }

    private NetDelivery Drop()
    {
        Interlocked.Increment(ref _rxDropped);
        return NetDelivery.Dropped;
    }

    /// <summary>
    /// Sends every posted transmit chain (5.1.6.2): a virtio_net_hdr, then the frame. The backend gets the frame
    /// alone, or with the header when it takes one. The transmit lock keeps the chain buffer to one thread while
    /// the device lock is released around the backend.
    /// </summary>
    private void Transmit(VirtQueue queue)
    {
        lock (_transmitLock)
        {
            bool completed = false;
            try
            {
                while (true)
                {
                    DescriptorChain chain;
                    int generation;
                    lock (SyncRoot)
                    {
                        if (Pop(queue, out chain) != VirtQueuePopResult.Chain) return;
                        generation = _generation;
                    }
                    long length = chain.ReadableLength;
                    if (length < HeaderSize + 14 || length > _transmit.Length)
                    {
                        Interlocked.Increment(ref _txDropped);
                    }
                    else
                    {
                        int n = chain.Read(0, _transmit.AsSpan(0, (int)length));
                        int skip = _backend.VnetHeaderSize == 0 ? HeaderSize : 0;
                        bool sent = _linkUp && _backend.Send(_transmit.AsSpan(skip, n - skip));
                        Interlocked.Increment(ref sent ? ref _txPackets : ref _txDropped);
                    }
                    lock (SyncRoot)
                    {
                        if (generation != _generation) return;
                        Complete(queue, chain.Head, 0);
                        completed = true;
                    }
                }
            }
            finally
            {
                if (completed)
                    lock (SyncRoot) SignalIfNeeded(queue);
            }
        }
    }
}
