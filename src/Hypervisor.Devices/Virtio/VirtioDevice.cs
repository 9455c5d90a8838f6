using Hypervisor.Platform.Memory;

namespace Hypervisor.Devices.Virtio;

/// <summary>
/// A virtio device independent of its transport: identity, feature bits, device configuration space and
/// virtqueues. The transport calls <see cref="Notify"/> from the thread that wrote the notification (a vCPU, or
/// an ioeventfd thread under KVM) without holding the lock; everything else it calls under
/// <see cref="SyncRoot"/>. Device code touches queues only under that lock and never lets an exception out.
/// </summary>
public abstract class VirtioDevice : IDisposable
{
    private IVirtioTransport? _transport;
    private readonly VirtQueue[] _queues;

    protected VirtioDevice(VirtioDeviceType type, GuestMemory memory, int queueCount, ushort queueSize)
    {
        Type = type;
        Memory = memory;
        _queues = new VirtQueue[queueCount];
        for (int i = 0; i < queueCount; i++) _queues[i] = new VirtQueue(memory, i, queueSize);
    }

    public VirtioDeviceType Type { get; }
    public GuestMemory Memory { get; }
    public IReadOnlyList<VirtQueue> Queues => _queues;

    /// <summary>The device-specific feature bits; <see cref="OfferedFeatures"/> adds the transport ones.</summary>
    protected abstract ulong DeviceFeatures { get; }

    public ulong OfferedFeatures => DeviceFeatures | VirtioFeatures.Transport;

    /// <summary>What the driver accepted with FEATURES_OK; 0 before that and after reset.</summary>
    public ulong NegotiatedFeatures { get; private set; }

    /// <summary>Bytes of device-specific configuration space.</summary>
    public abstract int ConfigSize { get; }

    /// <summary>Why the device last set DEVICE_NEEDS_RESET, for logs and tests.</summary>
    public string? LastError { get; private set; }

    public object SyncRoot => Transport.SyncRoot;

    protected IVirtioTransport Transport =>
        _transport ?? throw new InvalidOperationException($"{Type} virtio device has no transport");

    protected bool IsDriverOk => _transport?.IsDriverOk == true;

    public bool HasFeature(ulong bit) => (NegotiatedFeatures & bit) == bit;

    /// <summary>A read of the device configuration space (under the lock); bytes past its end read zero.</summary>
    public abstract void ReadConfig(int offset, Span<byte> data);

    /// <summary>A write to the device configuration space (under the lock); read-only unless a device says otherwise.</summary>
    public virtual void WriteConfig(int offset, ReadOnlySpan<byte> data)
    {
    }

    public virtual void Dispose() => GC.SuppressFinalize(this);

    internal void Attach(IVirtioTransport transport)
    {
        if (_transport is not null) throw new InvalidOperationException($"{Type} virtio device already has a transport");
        _transport = transport;
        OnAttached();
    }

    /// <summary>
    /// FEATURES_OK: accepts the driver's features if they are a subset of the offer, include VIRTIO_F_VERSION_1
    /// (hv has no legacy interface) and the device agrees (3.1.1 step 5, 6.1).
    /// </summary>
    internal bool AcceptFeatures(ulong features)
    {
        if ((features & ~OfferedFeatures) != 0 || (features & VirtioFeatures.Version1) == 0) return false;
        if (!AreFeaturesAcceptable(features)) return false;
        NegotiatedFeatures = features;
        foreach (var queue in _queues)
        {
            queue.EventIndex = (features & VirtioFeatures.RingEventIndex) != 0;
            queue.IndirectDescriptors = (features & VirtioFeatures.RingIndirectDescriptors) != 0;
        }
        return true;
    }

    /// <summary>DRIVER_OK was just set (under the lock).</summary>
    internal void Activate() => OnActivated();

    /// <summary>
    /// Device reset (2.4): the device finishes or drops what is in flight first, then every queue and the
    /// negotiated features go back to their reset values. Under the lock.
    /// </summary>
    internal void ResetDevice()
    {
        OnReset();
        foreach (var queue in _queues) queue.Reset();
        NegotiatedFeatures = 0;
        LastError = null;
    }

    /// <summary>The driver notified queue <paramref name="index"/>; one never set up is ignored. Not under the lock.</summary>
    public void Notify(int index)
    {
        if ((uint)index >= (uint)_queues.Length) return;
        try
        {
            OnQueueNotified(_queues[index]);
        }
        catch (GuestMemoryException e)
        {
            lock (SyncRoot) Fail(_queues[index], e.Message);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // A host-side failure (a closed console backend ...) must not unwind into the vCPU loop: the queue
            // stops and the guest sees DEVICE_NEEDS_RESET instead.
            lock (SyncRoot) Fail(_queues[index], $"host error: {e.Message}");
        }
    }

    protected virtual bool AreFeaturesAcceptable(ulong features) => true;

    /// <summary>The transport is in place (so is <see cref="SyncRoot"/>): a device may connect its host side now.</summary>
    protected virtual void OnAttached()
    {
    }

    protected virtual void OnActivated()
    {
    }

    /// <summary>Called under the lock at reset, before the queues are cleared.</summary>
    protected virtual void OnReset()
    {
    }

    /// <summary>Called on the notifying thread without the lock; the device checks <see cref="IsLive"/> under it.</summary>
    protected abstract void OnQueueNotified(VirtQueue queue);

    /// <summary>The queue may be processed now: driver ready, queue enabled and not broken. Under the lock.</summary>
    protected bool IsLive(VirtQueue queue) => IsDriverOk && queue.IsLive;

    /// <summary>Pops the next chain; a malformed one breaks the queue and sets DEVICE_NEEDS_RESET. Under the lock.</summary>
    protected VirtQueuePopResult Pop(VirtQueue queue, out DescriptorChain chain)
    {
        chain = default;
        if (!IsLive(queue)) return VirtQueuePopResult.Empty;
        var result = queue.TryPop(out chain);
        if (result == VirtQueuePopResult.Error) ReportBroken(queue);
        return result;
    }

    /// <summary>Returns a chain to the driver; interrupts are sent by <see cref="SignalIfNeeded"/>. Under the lock.</summary>
    protected void Complete(VirtQueue queue, ushort head, uint writtenLength)
    {
        queue.PushUsed(head, writtenLength);
        if (queue.Broken) ReportBroken(queue);
    }

    /// <summary>Writes a used element that <see cref="PublishStaged"/> makes visible later (5.1.6.4). Under the lock.</summary>
    protected void Stage(VirtQueue queue, ushort head, uint writtenLength)
    {
        queue.StageUsed(head, writtenLength);
        if (queue.Broken) ReportBroken(queue);
    }

    /// <summary>Publishes the elements <see cref="Stage"/> wrote. Under the lock.</summary>
    protected void PublishStaged(VirtQueue queue)
    {
        queue.PublishUsed();
        if (queue.Broken) ReportBroken(queue);
    }

    /// <summary>Sends the used buffer notification if the driver wants one (2.7.7, 2.7.10). Under the lock.</summary>
    protected void SignalIfNeeded(VirtQueue queue)
    {
        if (!IsLive(queue)) return;
        bool needed = queue.NeedsInterrupt();
        if (queue.Broken) ReportBroken(queue);
        else if (needed) Transport.SignalUsedBuffers(queue);
    }

    /// <summary>A driver error on <paramref name="queue"/> found by the device itself. Under the lock.</summary>
    protected void Fail(VirtQueue queue, string reason)
    {
        queue.MarkBroken(reason);
        ReportBroken(queue);
    }

    protected void SignalConfigChange() => Transport.SignalConfigChange();

    private void ReportBroken(VirtQueue queue)
    {
        LastError = queue.Error;
        Transport.ReportDeviceError(queue.Error ?? $"queue {queue.Index} failed");
    }
}
