namespace Hypervisor.Devices.Virtio;

/// <summary>
/// A validated descriptor chain popped from a <see cref="VirtQueue"/>: its device-readable buffers, then its
/// device-writable ones (2.7.4.2). It views the queue's chain buffer, so it is valid until the next pop from the
/// same queue. Copies go through <see cref="Hypervisor.Platform.Memory.GuestMemory"/> in bounded pieces, so a
/// buffer of any guest-given length (up to 4 GiB) never becomes one huge span.
/// </summary>
public readonly struct DescriptorChain
{
    /// <summary>The largest piece of guest memory one span covers while copying.</summary>
    public const int MaxPiece = 1 << 20;

    private readonly VirtQueue? _queue;
    private readonly int _count;
    private readonly int _firstWritable;

    internal DescriptorChain(VirtQueue queue, ushort head, int count, int firstWritable, long readable, long writable)
    {
        _queue = queue;
        Head = head;
        _count = count;
        _firstWritable = firstWritable;
        ReadableLength = readable;
        WritableLength = writable;
    }

    /// <summary>The head index the used ring reports back (2.7.8).</summary>
    public ushort Head { get; }

    public long ReadableLength { get; }
    public long WritableLength { get; }
    public int DescriptorCount => _count;

    public ReadOnlySpan<VirtqDescriptor> Readable =>
        _queue is null ? default : _queue.ChainBuffer[.._firstWritable];

    public ReadOnlySpan<VirtqDescriptor> Writable =>
        _queue is null ? default : _queue.ChainBuffer[_firstWritable.._count];

    /// <summary>
    /// Copies device-readable bytes from byte <paramref name="offset"/> of the readable part into
    /// <paramref name="destination"/>; returns how many there were (fewer at the end of the part).
    /// </summary>
    public int Read(long offset, Span<byte> destination)
    {
        if (_queue is null) return 0;
        var memory = _queue.Memory;
        int done = 0;
        foreach (ref readonly var d in Readable)
        {
            if (done == destination.Length) break;
            if (offset >= d.Length)
            {
                offset -= d.Length;
                continue;
            }
            int piece = (int)Math.Min(d.Length - offset, destination.Length - done);
            memory.Read(d.Address + (ulong)offset, destination.Slice(done, piece));
            done += piece;
            offset = 0;
        }
        return done;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the device-writable part from byte <paramref name="offset"/>; returns
    /// how many bytes fitted.
    /// </summary>
    public int Write(long offset, ReadOnlySpan<byte> source)
    {
        if (_queue is null) return 0;
        var memory = _queue.Memory;
        int done = 0;
        foreach (ref readonly var d in Writable)
        {
            if (done == source.Length) break;
            if (offset >= d.Length)
            {
                offset -= d.Length;
                continue;
            }
            int piece = (int)Math.Min(d.Length - offset, source.Length - done);
            memory.Write(d.Address + (ulong)offset, source.Slice(done, piece));
            done += piece;
            offset = 0;
        }
        return done;
    }

    /// <summary>
    /// Hands the device-writable guest memory in [<paramref name="offset"/>, offset+<paramref name="length"/>) to
    /// <paramref name="fill"/> piece by piece (at most <see cref="MaxPiece"/> bytes each), for zero-copy DMA from a
    /// backend. <paramref name="fill"/> gets each span and its position in the range and returns false to stop.
    /// Returns the bytes handed out.
    /// </summary>
    public long ForEachWritable<TState>(long offset, long length, TState state, WritableSpanFiller<TState> fill)
    {
        if (_queue is null) return 0;
        var memory = _queue.Memory;
        long done = 0;
        foreach (ref readonly var d in Writable)
        {
            if (done == length) break;
            if (offset >= d.Length)
            {
                offset -= d.Length;
                continue;
            }
            long available = Math.Min(d.Length - offset, length - done);
            for (long at = 0; at < available;)
            {
                int piece = (int)Math.Min(available - at, MaxPiece);
                if (!fill(memory.GetWritableSpan(d.Address + (ulong)(offset + at), piece), done, state)) return done;
                done += piece;
                at += piece;
            }
            offset = 0;
        }
        return done;
    }

    /// <summary>The device-readable counterpart of <see cref="ForEachWritable{TState}"/>, for zero-copy writes to a backend.</summary>
    public long ForEachReadable<TState>(long offset, long length, TState state, ReadableSpanConsumer<TState> consume)
    {
        if (_queue is null) return 0;
        var memory = _queue.Memory;
        long done = 0;
        foreach (ref readonly var d in Readable)
        {
            if (done == length) break;
            if (offset >= d.Length)
            {
                offset -= d.Length;
                continue;
            }
            long available = Math.Min(d.Length - offset, length - done);
            for (long at = 0; at < available;)
            {
                int piece = (int)Math.Min(available - at, MaxPiece);
                if (!consume(memory.GetReadOnlySpan(d.Address + (ulong)(offset + at), piece), done, state)) return done;
                done += piece;
                at += piece;
            }
            offset = 0;
        }
        return done;
    }
}

public delegate bool WritableSpanFiller<in TState>(Span<byte> guestMemory, long position, TState state);

public delegate bool ReadableSpanConsumer<in TState>(ReadOnlySpan<byte> guestMemory, long position, TState state);
