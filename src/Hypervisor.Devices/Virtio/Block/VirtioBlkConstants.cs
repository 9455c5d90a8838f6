namespace Hypervisor.Devices.Virtio.Block;

/// <summary>Feature bits, request types and status values of the block device (VIRTIO 1.2, 5.2).</summary>
public static class VirtioBlkConstants
{
    public const ulong FeatureSizeMax = 1UL << 1;
    public const ulong FeatureSegMax = 1UL << 2;
    public const ulong FeatureReadOnly = 1UL << 5;
    public const ulong FeatureBlockSize = 1UL << 6;
    public const ulong FeatureFlush = 1UL << 9;
    public const ulong FeatureDiscard = 1UL << 13;
    public const ulong FeatureWriteZeroes = 1UL << 14;

    public const uint TypeIn = 0;
    public const uint TypeOut = 1;
    public const uint TypeFlush = 4;
    public const uint TypeGetId = 8;
    public const uint TypeDiscard = 11;
    public const uint TypeWriteZeroes = 13;

    public const byte StatusOk = 0;
    public const byte StatusIoError = 1;
    public const byte StatusUnsupported = 2;

    /// <summary>struct virtio_blk_outhdr: type, reserved, sector (5.2.6).</summary>
    public const int HeaderSize = 16;

    /// <summary>struct virtio_blk_discard_write_zeroes: sector, num_sectors, flags (5.2.6).</summary>
    public const int SegmentSize = 16;

    public const uint SegmentFlagUnmap = 1;

    /// <summary>VIRTIO_BLK_ID_BYTES: the GET_ID answer is at most 20 bytes, not NUL-terminated when full.</summary>
    public const int IdBytes = 20;

    /// <summary>Largest single data segment hv asks the driver to use (size_max).</summary>
    public const uint SizeMax = 1 << 20;

    public const uint MaxDiscardSectors = 0x3F_FFFF;
    public const uint MaxDiscardSegments = 32;

    /// <summary>In 512-byte sectors: 4 KiB, the granularity host file systems free space in.</summary>
    public const uint DiscardSectorAlignment = 8;

    /// <summary>Bytes of struct virtio_blk_config up to write_zeroes_may_unmap and its padding (5.2.4).</summary>
    public const int ConfigSize = 60;
}
