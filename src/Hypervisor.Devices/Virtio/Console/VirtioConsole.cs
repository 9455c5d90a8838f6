using System.Buffers.Binary;
using Hypervisor.Devices.Console;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Devices.Virtio.Console;

/// <summary>
/// virtio-console with its single port 0 (VIRTIO 1.2, 5.3): receiveq 0 carries host input from an
/// <see cref="ICharacterBackend"/> into the guest's buffers, transmitq 1 carries guest output to it. Linux shows
/// the port as /dev/hvc0. Host input that arrives while the guest has no buffer posted waits in a bounded buffer
/// (the backend has no flow control); beyond <see cref="MaxPendingInput"/> bytes it is dropped, as a UART's
/// overrun would. Guest output is written to the backend outside the device lock, as the backend requires.
/// </summary>
public sealed class VirtioConsole : VirtioDevice
{
    public const ushort DefaultQueueSize = 128;
    public const int MaxPendingInput = 64 * 1024;
    public const int ReceiveQueue = 0;
    public const int TransmitQueue = 1;

    private const int TransmitChunk = 4096;

    private readonly ICharacterBackend _backend;
    private readonly byte[] _pending = new byte[MaxPendingInput];
    private readonly byte[] _transmit = new byte[TransmitChunk];
    private readonly object _transmitLock = new();
    private int _pendingLength;
    private int _generation;

    public VirtioConsole(GuestMemory memory, ICharacterBackend backend, ushort queueSize = DefaultQueueSize)
        : base(VirtioDeviceType.Console, memory, 2, queueSize)
    {
        _backend = backend;
    }

    /// <summary>Host bytes dropped because the guest did not take them in time.</summary>
    public long DroppedInputBytes { get; private set; }

    protected override ulong DeviceFeatures => 0;

    /// <summary>struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr (5.3.4); all unused without features.</summary>
    public override int ConfigSize => 12;

    public override void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[12];
        config.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(config[4..], 1);
        data.Clear();
        if (offset < config.Length) config[offset..Math.Min(config.Length, offset + data.Length)].CopyTo(data);
    }

    /// <summary>Host input flows from the moment a transport carries the device.</summary>
    protected override void OnAttached() => _backend.SetReceiver(OnHostInput);

    public override void Dispose()
    {
        _backend.SetReceiver(null);
        base.Dispose();
    }

    protected override void OnReset() => _generation++;

    protected override void OnQueueNotified(VirtQueue queue)
    {
        if (queue.Index == ReceiveQueue)
        {
            lock (SyncRoot) DeliverPending();
        }
        else
        {
            Transmit(queue);
        }
    }

    private void OnHostInput(ReadOnlySpan<byte> data)
    {
        try
        {
            lock (SyncRoot)
            {
                int room = _pending.Length - _pendingLength;
                int taken = Math.Min(room, data.Length);
                data[..taken].CopyTo(_pending.AsSpan(_pendingLength));
                _pendingLength += taken;
                DroppedInputBytes += data.Length - taken;
                DeliverPending();
            }
        }
        catch (GuestMemoryException e)
        {
            lock (SyncRoot) Fail(Queues[ReceiveQueue], e.Message);
        }
    }

    /// <summary>Fills posted receive buffers with waiting input (5.3.6.1). Under the lock.</summary>
    private void DeliverPending()
    {
        var queue = Queues[ReceiveQueue];
        bool completed = false;
        while (_pendingLength > 0 && Pop(queue, out var chain) == VirtQueuePopResult.Chain)
        {
            int n = chain.Write(0, _pending.AsSpan(0, _pendingLength));
            _pending.AsSpan(n, _pendingLength - n).CopyTo(_pending);
            _pendingLength -= n;
            Complete(queue, chain.Head, (uint)n);
            completed = true;
        }
        if (completed) SignalIfNeeded(queue);
    }

    /// <summary>
    /// Sends every posted transmit buffer to the backend (5.3.6.2). The transmit lock keeps the chain buffer to one
    /// thread while the device lock is released around the backend writes.
    /// </summary>
    private void Transmit(VirtQueue queue)
    {
        lock (_transmitLock)
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
                for (long offset = 0; offset < chain.ReadableLength;)
                {
                    int n = chain.Read(offset, _transmit);
                    _backend.Write(_transmit.AsSpan(0, n));
                    offset += n;
                }
                lock (SyncRoot)
                {
                    if (generation != _generation) return;
                    Complete(queue, chain.Head, 0);
                    SignalIfNeeded(queue);
                }
            }
        }
    }
}
