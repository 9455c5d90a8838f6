using System.Numerics;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Devices.Virtio;

public enum VirtQueuePopResult
{
    /// <summary>The driver has made nothing new available.</summary>
    Empty,

    /// <summary>A chain was popped and validated.</summary>
    Chain,

    /// <summary>The driver broke the ring; the queue is now <see cref="VirtQueue.Broken"/> (see <see cref="VirtQueue.Error"/>).</summary>
    Error,
}

/// <summary>
/// The device side of one split virtqueue (VIRTIO 1.2, 2.7): the descriptor table, available (driver) ring and
/// used (device) ring in guest memory, touched only through <see cref="GuestMemory"/>. A popped chain is
/// validated as a whole and its descriptors copied into a per-queue buffer, so the device never re-reads what
/// the guest can change under it and nothing is allocated per descriptor. A malformed chain breaks the queue:
/// it stops and the device reports DEVICE_NEEDS_RESET (2.1.2). Not thread-safe: the device serialises.
/// </summary>
public sealed class VirtQueue
{
    /// <summary>VIRTIO_MSI_NO_VECTOR (4.1.5.1.2).</summary>
    public const ushort NoVector = 0xFFFF;

    public const int MaxQueueSize = 32768;

    /// <summary>
    /// The spec bounds direct chains by the queue size but not indirect tables; like QEMU (VIRTQUEUE_MAX_SIZE)
    /// hv accepts at most this many descriptors in one table, far more than Linux builds.
    /// </summary>
    public const int MaxIndirectDescriptors = 1024;

    private const ushort AvailFlagNoInterrupt = 1;

    private readonly GuestMemory _memory;
    private VirtqDescriptor[] _chain;
    private ushort _lastAvail;
    private ushort _usedIndex;
    private ushort _signalledUsed;
    private bool _signalledValid;

    public VirtQueue(GuestMemory memory, int index, ushort maxSize)
    {
        if (maxSize == 0 || maxSize > MaxQueueSize || !BitOperations.IsPow2((uint)maxSize))
            throw new ArgumentOutOfRangeException(nameof(maxSize), maxSize, "a split queue size is a power of 2 up to 32768");
        _memory = memory;
        Index = index;
        MaxSize = maxSize;
        _chain = new VirtqDescriptor[maxSize];
        Reset();
    }

    public int Index { get; }
    public ushort MaxSize { get; }

    /// <summary>queue_size: the driver may lower it (4.1.4.3); a split ring's size is a power of 2 (2.7).</summary>
    public ushort Size { get; set; }

    public bool Enabled { get; private set; }
    public ulong DescriptorTable { get; set; }
    public ulong DriverArea { get; set; }
    public ulong DeviceArea { get; set; }
    public ushort MsixVector { get; set; }

    /// <summary>VIRTIO_F_EVENT_IDX was negotiated (2.7.7, 2.7.10).</summary>
    public bool EventIndex { get; set; }

    /// <summary>VIRTIO_F_INDIRECT_DESC was negotiated (2.7.5.3).</summary>
    public bool IndirectDescriptors { get; set; }

    public bool Broken { get; private set; }
    public string? Error { get; private set; }

    /// <summary>Enabled and not broken: the device may process it.</summary>
    public bool IsLive => Enabled && !Broken;

    public ushort LastAvailableIndex => _lastAvail;
    public ushort UsedIndex => _usedIndex;

    /// <summary>The validated descriptors of the chain popped last; <see cref="DescriptorChain"/> views them.</summary>
    internal ReadOnlySpan<VirtqDescriptor> ChainBuffer => _chain;

    internal GuestMemory Memory => _memory;

    /// <summary>Back to the reset values of 4.1.4.3: maximum size, disabled, zero addresses, no vector.</summary>
    public void Reset()
    {
        Size = MaxSize;
        Enabled = false;
        DescriptorTable = DriverArea = DeviceArea = 0;
        MsixVector = NoVector;
        EventIndex = IndirectDescriptors = false;
        Broken = false;
        Error = null;
        _lastAvail = _usedIndex = _signalledUsed = 0;
        _signalledValid = false;
    }

    /// <summary>
    /// queue_enable = 1: checks the size and that the three areas are aligned (2.7) and inside guest RAM. Returns
    /// null when the queue is now live, else why it is not.
    /// </summary>
    public string? Enable()
    {
        if (Size == 0 || Size > MaxSize || !BitOperations.IsPow2((uint)Size))
            return $"queue {Index}: size {Size} is not a power of 2 up to {MaxSize}";
        if ((DescriptorTable & 15) != 0 || (DriverArea & 1) != 0 || (DeviceArea & 3) != 0)
            return $"queue {Index}: misaligned ring addresses";
        if (!_memory.IsRam(DescriptorTable, (ulong)Size * VirtqDescriptor.Size) ||
            !_memory.IsRam(DriverArea, 6 + 2UL * Size) || !_memory.IsRam(DeviceArea, 6 + 8UL * Size))
            return $"queue {Index}: rings outside guest RAM";
        Enabled = true;
        return null;
    }

    /// <summary>Stops the queue after a driver error, until the device is reset.</summary>
    public void MarkBroken(string reason)
    {
        Broken = true;
        Error ??= $"queue {Index}: {reason}";
    }

    /// <summary>
    /// Takes the next available chain (2.7.13.4 seen from the device). When the ring is empty and event index is
    /// on, publishes avail_event and looks again, so a buffer added meanwhile is not missed (2.7.10).
    /// </summary>
    public VirtQueuePopResult TryPop(out DescriptorChain chain)
    {
        chain = default;
        if (!IsLive) return VirtQueuePopResult.Empty;
        try
        {
            ushort available = _memory.Read<ushort>(DriverArea + 2);
            if (available == _lastAvail)
            {
                if (!EventIndex) return VirtQueuePopResult.Empty;
                _memory.Write(DeviceArea + 4 + 8UL * Size, _lastAvail);
                Interlocked.MemoryBarrier();
                available = _memory.Read<ushort>(DriverArea + 2);
                if (available == _lastAvail) return VirtQueuePopResult.Empty;
            }
            if ((ushort)(available - _lastAvail) > Size)
                return Fail($"available index moved from {_lastAvail} to {available}, beyond the queue size");
            // The ring entry is read after idx: pairs with the driver's write barrier before it bumps idx (2.7.13.3).
            Interlocked.MemoryBarrier();
            ushort head = _memory.Read<ushort>(DriverArea + 4 + 2UL * (uint)(_lastAvail & (Size - 1)));
            _lastAvail++;
            return Walk(head, out chain);
        }
        catch (GuestMemoryException e)
        {
            return Fail(e.Message);
        }
    }

    /// <summary>Puts chain <paramref name="head"/> in the used ring with the bytes written into it (2.7.8).</summary>
    public void PushUsed(ushort head, uint writtenLength)
    {
        StageUsed(head, writtenLength);
        PublishUsed();
    }

    /// <summary>
    /// Writes a used element without moving the used index the driver reads, so several elements (the buffers of
    /// one merged receive packet, 5.1.6.4) become visible together with <see cref="PublishUsed"/>.
    /// </summary>
    public void StageUsed(ushort head, uint writtenLength)
    {
        if (!IsLive) return;
        try
        {
            ulong element = DeviceArea + 4 + 8UL * (uint)(_usedIndex & (Size - 1));
            _memory.Write(element, (uint)head);
            _memory.Write(element + 4, writtenLength);
            _usedIndex++;
        }
        catch (GuestMemoryException e)
        {
            Fail(e.Message);
        }
    }

    /// <summary>Publishes every staged used element by writing the used index.</summary>
    public void PublishUsed()
    {
        if (!IsLive) return;
        try
        {
            // The elements must be visible before the index that publishes them (2.7.8).
            Interlocked.MemoryBarrier();
            _memory.Write(DeviceArea + 2, _usedIndex);
        }
        catch (GuestMemoryException e)
        {
            Fail(e.Message);
        }
    }

    /// <summary>
    /// Gives back the last <paramref name="count"/> popped chains, unused, so the next pops return them again (a
    /// receive packet that did not fit the buffers available so far waits for more).
    /// </summary>
    public void Unpop(int count)
    {
        if ((uint)count > Size) throw new ArgumentOutOfRangeException(nameof(count));
        _lastAvail -= (ushort)count;
    }

    /// <summary>
    /// Whether the driver wants an interrupt for what was pushed since the last one: used_event with event index
    /// (2.7.10), else the avail ring's NO_INTERRUPT flag (2.7.7).
    /// </summary>
    public bool NeedsInterrupt()
    {
        if (!IsLive) return false;
        try
        {
            // The used index store must be visible before the driver's suppression fields are read (2.7.7.1).
            Interlocked.MemoryBarrier();
            if (!EventIndex) return (_memory.Read<ushort>(DriverArea) & AvailFlagNoInterrupt) == 0;
            ushort usedEvent = _memory.Read<ushort>(DriverArea + 4 + 2UL * Size);
            ushort previous = _signalledUsed;
            bool valid = _signalledValid;
            _signalledUsed = _usedIndex;
            _signalledValid = true;
            return !valid || (ushort)(_usedIndex - usedEvent - 1) < (ushort)(_usedIndex - previous);
        }
        catch (GuestMemoryException e)
        {
            Fail(e.Message);
            return false;
        }
    }

    /// <summary>
    /// Follows a chain from <paramref name="head"/> (2.7.5): at most Size direct descriptors (more means a loop),
    /// at most one indirect table, last in the direct part, with no NEXT, a length that is a non-zero multiple of
    /// 16 and no nested indirect entry (2.7.5.3.1); next indices inside their table; device-readable buffers
    /// before device-writable ones (2.7.4.2); every buffer inside guest memory, writable ones inside RAM.
    /// </summary>
    private VirtQueuePopResult Walk(ushort head, out DescriptorChain chain)
    {
        chain = default;
        if (head >= Size) return Fail($"head index {head} out of range");
        ulong table = DescriptorTable;
        int tableSize = Size;
        bool indirect = false;
        int count = 0, firstWritable = -1, steps = 0;
        long readable = 0, writable = 0;
        ushort index = head;
        while (true)
        {
            if (++steps > tableSize) return Fail("descriptor chain longer than its table (a loop)");
            var d = _memory.Read<VirtqDescriptor>(table + (ulong)index * VirtqDescriptor.Size);
            if (d.IsIndirect)
            {
                if (!IndirectDescriptors) return Fail("indirect descriptor without VIRTIO_F_INDIRECT_DESC");
                if (indirect) return Fail("nested indirect descriptor");
                if (d.HasNext) return Fail("indirect descriptor with NEXT");
                if (d.Length == 0 || d.Length % VirtqDescriptor.Size != 0)
                    return Fail($"indirect table length {d.Length} is not a non-zero multiple of 16");
                if (d.Length / VirtqDescriptor.Size > MaxIndirectDescriptors)
                    return Fail($"indirect table of {d.Length / VirtqDescriptor.Size} descriptors");
                if (_memory.Find(d.Address, d.Length) is null) return Fail("indirect table outside guest memory");
                table = d.Address;
                tableSize = (int)(d.Length / VirtqDescriptor.Size);
                indirect = true;
                steps = 0;
                index = 0;
                continue;
            }
            if (d.IsWritable)
            {
                if (d.Length != 0 && !_memory.IsRam(d.Address, d.Length)) return Fail("writable buffer outside guest RAM");
                if (firstWritable < 0) firstWritable = count;
                writable += d.Length;
            }
            else
            {
                if (firstWritable >= 0) return Fail("device-readable buffer after a device-writable one");
                if (d.Length != 0 && _memory.Find(d.Address, d.Length) is null) return Fail("buffer outside guest memory");
                readable += d.Length;
            }
            if (count == _chain.Length) Array.Resize(ref _chain, Math.Min(_chain.Length * 2, MaxSize + MaxIndirectDescriptors));
            _chain[count++] = d;
            if (!d.HasNext) break;
            index = d.Next;
            if (index >= tableSize) return Fail($"next index {index} out of range");
        }
        chain = new DescriptorChain(this, head, count, firstWritable < 0 ? count : firstWritable, readable, writable);
        return VirtQueuePopResult.Chain;
    }

    private VirtQueuePopResult Fail(string reason)
    {
        MarkBroken(reason);
        return VirtQueuePopResult.Error;
    }
}
