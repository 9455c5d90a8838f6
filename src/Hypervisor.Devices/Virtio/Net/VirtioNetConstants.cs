namespace Hypervisor.Devices.Virtio.Net;

/// <summary>virtio-net feature bits, status bits and header layout (VIRTIO 1.2, 5.1.3, 5.1.4, 5.1.6).</summary>
public static class VirtioNetConstants
{
    public const ulong FeatureMac = 1UL << 5;
    public const ulong FeatureMergeableRxBuffers = 1UL << 15;
    public const ulong FeatureStatus = 1UL << 16;

    /// <summary>VIRTIO_NET_S_LINK_UP in the configuration's status field.</summary>
    public const ushort StatusLinkUp = 1;

    public const int ReceiveQueue = 0;
    public const int TransmitQueue = 1;

    /// <summary>
    /// struct virtio_net_hdr with VIRTIO_F_VERSION_1: flags, gso_type, hdr_len, gso_size, csum_start,
    /// csum_offset, num_buffers - always 12 bytes for a 1.x driver (5.1.6).
    /// </summary>
    public const int HeaderSize = 12;

    /// <summary>Offset of num_buffers in the header.</summary>
    public const int NumBuffersOffset = 10;

    /// <summary>mac[6], status, max_virtqueue_pairs (5.1.4); the later fields need features hv does not offer.</summary>
    public const int ConfigSize = 10;

    /// <summary>The largest frame hv transmits: a 64 KiB packet plus its Ethernet header (no offloads, so MTU-sized in practice).</summary>
    public const int MaxFrameSize = 65536 + 14;
}
