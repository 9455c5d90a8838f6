using Hypervisor.Platform.Memory;

namespace Hypervisor.Devices.Virtio.Rng;

/// <summary>
/// virtio-rng, the entropy device (VIRTIO 1.2, 5.4): every device-writable buffer on its one queue is filled
/// from the host's CSPRNG (getrandom(2), <see cref="HostRandom"/>), straight into guest
/// memory. Requests are tiny and cheap, so they are served on the notifying thread.
/// </summary>
public sealed class VirtioRng : VirtioDevice
{
    public const ushort DefaultQueueSize = 64;

    /// <summary>
    /// The device may write less than the buffer's size (5.4.6.1 only asks for non-zero); this bounds the time one
    /// notification can hold a vCPU when the guest offers huge buffers.
    /// </summary>
    public const int MaxBytesPerRequest = 64 * 1024;

    private static readonly WritableSpanFiller<int> Fill = static (span, _, _) => HostRandom.Fill(span);

    public VirtioRng(GuestMemory memory, ushort queueSize = DefaultQueueSize)
        : base(VirtioDeviceType.Entropy, memory, 1, queueSize)
    {
    }

    protected override ulong DeviceFeatures => 0;

    public override int ConfigSize => 0;

    public override void ReadConfig(int offset, Span<byte> data) => data.Clear();

    protected override void OnQueueNotified(VirtQueue queue)
    {
        lock (SyncRoot)
        {
            bool completed = false;
            while (Pop(queue, out var chain) == VirtQueuePopResult.Chain)
            {
                long written = chain.ForEachWritable(0, Math.Min(chain.WritableLength, MaxBytesPerRequest), 0, Fill);
                Complete(queue, chain.Head, (uint)written);
                completed = true;
            }
            if (completed) SignalIfNeeded(queue);
        }
    }
}
