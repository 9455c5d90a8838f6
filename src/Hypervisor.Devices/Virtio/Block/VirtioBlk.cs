using System.Buffers.Binary;
using System.Text;
using Hypervisor.Platform.Memory;
using Hypervisor.Storage;
using static Hypervisor.Devices.Virtio.Block.VirtioBlkConstants;

namespace Hypervisor.Devices.Virtio.Block;

/// <summary>
/// virtio-blk (VIRTIO 1.2, 5.2) on an <see cref="IBlockBackend"/>: one request queue served by the device's own
/// I/O thread. The notify only wakes that thread; it pops a chain under the lock, does the I/O without it, then
/// publishes the used element and interrupts. A reset waits for the request in flight (2.4 lets device_status
/// read back non-zero until then; hv simply finishes it first). The write-back cache is advertised honestly:
/// with VIRTIO_BLK_F_FLUSH negotiated writes reach the host page cache and FLUSH is fdatasync; without it
/// every write is followed by fdatasync (5.2.6.2).
/// </summary>
public sealed class VirtioBlk : VirtioDevice
{
    public const ushort DefaultQueueSize = 256;

    private readonly IBlockBackend _backend;
    private readonly VirtioBlkRequestHandler _handler;
    private readonly byte[] _config = new byte[VirtioBlkConstants.ConfigSize];
    private readonly VirtioWorker _worker;
    private int _generation;
    private bool _inFlight;

    /// <param name="serial">What GET_ID answers (at most 20 bytes; Linux shows it as /sys/block/vdX/serial).</param>
    public VirtioBlk(GuestMemory memory, IBlockBackend backend, string? serial = null, ushort queueSize = DefaultQueueSize)
        : base(VirtioDeviceType.Block, memory, 1, queueSize)
    {
        _backend = backend;
        byte[] id = Encoding.ASCII.GetBytes(serial ?? Path.GetFileName(backend.Name));
        Serial = id.Length > IdBytes ? id[..IdBytes] : id;
        _handler = new VirtioBlkRequestHandler(backend, Serial);
        DeviceFeatures = FeatureSizeMax | FeatureSegMax | FeatureBlockSize | FeatureFlush |
                         (backend.IsReadOnly ? FeatureReadOnly : FeatureDiscard | FeatureWriteZeroes);
        BuildConfig(queueSize);
        _worker = new VirtioWorker($"virtio-blk {backend.Name}", ProcessRequests, OnWorkerFault);
    }

    public IBlockBackend Backend => _backend;
    public byte[] Serial { get; }

    protected override ulong DeviceFeatures { get; }

    public override int ConfigSize => VirtioBlkConstants.ConfigSize;

    public override void ReadConfig(int offset, Span<byte> data)
    {
        data.Clear();
        if (offset < _config.Length)
            _config.AsSpan(offset, Math.Min(data.Length, _config.Length - offset)).CopyTo(data);
    }

    public override void Dispose()
    {
        _worker.Dispose();
        base.Dispose();
    }

    protected override void OnActivated()
    {
        _handler.WriteBack = HasFeature(FeatureFlush);
        _handler.DiscardEnabled = HasFeature(FeatureDiscard);
        _handler.WriteZeroesEnabled = HasFeature(FeatureWriteZeroes);
    }

    protected override void OnQueueNotified(VirtQueue queue) => _worker.Kick();

    protected override void OnReset()
    {
        _generation++;
        while (_inFlight) Monitor.Wait(SyncRoot);
    }

    /// <summary>The worker's loop: drains the queue, interrupting once per batch (or every 16 requests).</summary>
    private void ProcessRequests()
    {
        var queue = Queues[0];
        int unsignalled = 0;
        while (true)
        {
            DescriptorChain chain;
            int generation;
            lock (SyncRoot)
            {
                if (Pop(queue, out chain) != VirtQueuePopResult.Chain)
                {
                    if (unsignalled > 0) SignalIfNeeded(queue);
                    return;
                }
                if (!VirtioBlkRequestHandler.IsWellFormed(chain))
                {
                    Fail(queue, "block request without a header or a status byte");
                    return;
                }
                generation = _generation;
                _inFlight = true;
            }

            uint used = 0;
            string? fault = null;
            try
            {
                used = _handler.Execute(chain);
            }
            catch (GuestMemoryException e)
            {
                fault = e.Message;
            }

            lock (SyncRoot)
            {
                _inFlight = false;
                Monitor.PulseAll(SyncRoot);
                if (generation != _generation) return;
                if (fault is not null)
                {
                    Fail(queue, fault);
                    return;
                }
                Complete(queue, chain.Head, used);
                if (++unsignalled >= 16)
                {
                    SignalIfNeeded(queue);
                    unsignalled = 0;
                }
            }
        }
    }

    private void OnWorkerFault(Exception e)
    {
        lock (SyncRoot)
        {
            _inFlight = false;
            Monitor.PulseAll(SyncRoot);
            Fail(Queues[0], $"internal error: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>struct virtio_blk_config (5.2.4); fields of features not offered stay zero.</summary>
    private void BuildConfig(ushort queueSize)
    {
        var c = _config.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(c, _backend.SectorCount);
        BinaryPrimitives.WriteUInt32LittleEndian(c[8..], SizeMax);
        // Header and status take two descriptors of a chain no longer than the queue (2.7.5.3.1).
        BinaryPrimitives.WriteUInt32LittleEndian(c[12..], (uint)Math.Min((int)queueSize, VirtQueue.MaxIndirectDescriptors) - 2);
        BinaryPrimitives.WriteUInt32LittleEndian(c[20..], IBlockBackend.SectorSize);
        BinaryPrimitives.WriteUInt16LittleEndian(c[34..], 1);
        if (_backend.IsReadOnly) return;
        BinaryPrimitives.WriteUInt32LittleEndian(c[36..], MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[40..], MaxDiscardSegments);
        BinaryPrimitives.WriteUInt32LittleEndian(c[44..], DiscardSectorAlignment);
        BinaryPrimitives.WriteUInt32LittleEndian(c[48..], MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[52..], MaxDiscardSegments);
        c[56] = 1;
    }
}
