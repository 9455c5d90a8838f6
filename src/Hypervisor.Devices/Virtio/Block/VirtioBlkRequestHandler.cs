using System.Buffers.Binary;
using Hypervisor.Storage;
using static Hypervisor.Devices.Virtio.Block.VirtioBlkConstants;

namespace Hypervisor.Devices.Virtio.Block;

/// <summary>
/// Executes one virtio-blk request (VIRTIO 1.2, 5.2.6) against the backend: the header in the device-readable
/// part, data after it (OUT, DISCARD, WRITE_ZEROES) or in the device-writable part (IN, GET_ID), and the status
/// byte as the last writable byte. Data moves between the backend and guest memory spans without a copy.
/// Host I/O errors become VIRTIO_BLK_S_IOERR; guest memory faults propagate to the device (NEEDS_RESET).
/// </summary>
internal sealed class VirtioBlkRequestHandler(IBlockBackend backend, byte[] id)
{
    private static readonly WritableSpanFiller<DiskRange> FillFromDisk = static (span, position, state) =>
    {
        state.Backend.Read(state.Offset + position, span);
        return true;
    };

    private static readonly ReadableSpanConsumer<DiskRange> WriteToDisk = static (span, position, state) =>
    {
        state.Backend.Write(state.Offset + position, span);
        return true;
    };

    /// <summary>VIRTIO_BLK_F_FLUSH was negotiated: writes may stay in the host cache until a FLUSH (5.2.6.2).</summary>
    public bool WriteBack { get; set; }

    public bool DiscardEnabled { get; set; }
    public bool WriteZeroesEnabled { get; set; }

    /// <summary>
    /// Whether the chain can carry a request at all: a header to read and a status byte to write. Without them
    /// there is nowhere to report an error, so the device treats it as a broken ring.
    /// </summary>
    public static bool IsWellFormed(in DescriptorChain chain) =>
        chain.ReadableLength >= HeaderSize && chain.WritableLength >= 1;

    /// <summary>Runs the request and writes its status byte; returns the used length (bytes written).</summary>
    public uint Execute(in DescriptorChain chain)
    {
        Span<byte> header = stackalloc byte[HeaderSize];
        chain.Read(0, header);
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        long dataIn = chain.WritableLength - 1;
        long dataOut = chain.ReadableLength - HeaderSize;
        long written = 0;
        byte status;
        try
        {
            status = type switch
            {
                TypeIn => ReadSectors(chain, sector, dataIn, out written),
                TypeOut => WriteSectors(chain, sector, dataOut),
                TypeFlush => Flush(),
                TypeGetId => GetId(chain, dataIn, out written),
                TypeDiscard when DiscardEnabled => DiscardOrZero(chain, dataOut, zero: false),
                TypeWriteZeroes when WriteZeroesEnabled => DiscardOrZero(chain, dataOut, zero: true),
                _ => StatusUnsupported,
            };
        }
        catch (IOException)
        {
            status = StatusIoError;
            written = 0;
        }
        chain.Write(chain.WritableLength - 1, [status]);
        return (uint)(written + 1);
    }

    private byte ReadSectors(in DescriptorChain chain, ulong sector, long length, out long written)
    {
        written = 0;
        if (!InRange(sector, length, out long offset)) return StatusIoError;
        written = chain.ForEachWritable(0, length, new DiskRange(backend, offset), FillFromDisk);
        return StatusOk;
    }

    private byte WriteSectors(in DescriptorChain chain, ulong sector, long length)
    {
        // The spec requires IOERR for writes to a device that offered VIRTIO_BLK_F_RO (5.2.6.1).
        if (backend.IsReadOnly || !InRange(sector, length, out long offset)) return StatusIoError;
        chain.ForEachReadable(HeaderSize, length, new DiskRange(backend, offset), WriteToDisk);
        if (!WriteBack) backend.Flush();
        return StatusOk;
    }

    private byte Flush()
    {
        backend.Flush();
        return StatusOk;
    }

    private byte GetId(in DescriptorChain chain, long length, out long written)
    {
        int n = (int)Math.Min(length, IdBytes);
        written = chain.Write(0, id.AsSpan(0, Math.Min(n, id.Length)));
        return StatusOk;
    }

    /// <summary>
    /// DISCARD and WRITE_ZEROES carry segments after the header (5.2.6). Unknown flag bits, and unmap on a discard,
    /// are UNSUPP; too many segments, too many sectors or a range beyond the disk are IOERR (5.2.6.1).
    /// </summary>
    private byte DiscardOrZero(in DescriptorChain chain, long length, bool zero)
    {
        if (backend.IsReadOnly || length <= 0 || length % SegmentSize != 0) return StatusIoError;
        long segments = length / SegmentSize;
        if (segments > MaxDiscardSegments) return StatusIoError;
        Span<byte> segment = stackalloc byte[SegmentSize];
        for (long i = 0; i < segments; i++)
        {
            chain.Read(HeaderSize + i * SegmentSize, segment);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(segment[12..]);
            if ((flags & ~SegmentFlagUnmap) != 0 || (!zero && flags != 0)) return StatusUnsupported;
            uint sectors = BinaryPrimitives.ReadUInt32LittleEndian(segment[8..]);
            if (sectors > MaxDiscardSectors) return StatusIoError;
        }
        for (long i = 0; i < segments; i++)
        {
            chain.Read(HeaderSize + i * SegmentSize, segment);
            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(segment);
            long bytes = (long)BinaryPrimitives.ReadUInt32LittleEndian(segment[8..]) * IBlockBackend.SectorSize;
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(segment[12..]);
            if (!InRange(sector, bytes, out long offset)) return StatusIoError;
            if (zero) backend.WriteZeroes(offset, bytes, (flags & SegmentFlagUnmap) != 0);
            else backend.Discard(offset, bytes);
        }
        if (!WriteBack) backend.Flush();
        return StatusOk;
    }

    /// <summary>Whole sectors inside the disk: anything else is IOERR (5.2.6.1).</summary>
    private bool InRange(ulong sector, long length, out long offset)
    {
        offset = 0;
        if (length < 0 || length % IBlockBackend.SectorSize != 0) return false;
        ulong sectors = (ulong)length / IBlockBackend.SectorSize;
        if (sector > backend.SectorCount || sectors > backend.SectorCount - sector) return false;
        offset = (long)(sector * IBlockBackend.SectorSize);
        return true;
    }

    private readonly record struct DiskRange(IBlockBackend Backend, long Offset);
}
