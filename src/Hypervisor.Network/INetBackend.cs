namespace Hypervisor.Network;

/// <summary>What a NIC did with a frame a backend offered it.</summary>
public enum NetDelivery
{
    /// <summary>The frame is in the guest's buffers.</summary>
    Delivered,

    /// <summary>The frame is gone for good (no driver, filtered, larger than the guest can take); the NIC counted it.</summary>
    Dropped,

    /// <summary>
    /// The guest has no receive buffers posted right now. The backend keeps the frame and offers it again after
    /// <see cref="INetBackend.ResumeReceive"/> (or a short timeout), so a busy guest slows the link instead of losing it.
    /// </summary>
    NoRoom,
}

/// <summary>The NIC end of a backend: receives frames on the backend's receive thread.</summary>
public interface INetFrameSink
{
    /// <summary>
    /// One Ethernet frame (preceded by a virtio_net_hdr of <see cref="INetBackend.VnetHeaderSize"/> bytes when
    /// the backend has one). The span is the backend's reusable buffer, valid only during the call.
    /// </summary>
    NetDelivery Deliver(ReadOnlySpan<byte> frame);
}

/// <summary>
/// The host side of a network card: TAP, a VM-to-VM link, later user-mode NAT. Frames are whole Ethernet frames
/// without FCS. A backend owns one receive thread that reads into a buffer it reuses, so receiving allocates
/// nothing per packet; <see cref="Send"/> is called from the NIC's transmit path and must not block for long.
/// </summary>
public interface INetBackend : IDisposable
{
    /// <summary>For messages: "tap hvtap0", "vmlink /tmp/lan".</summary>
    string Description { get; }

    /// <summary>
    /// 0 for plain frames; 12 when every frame in and out starts with a struct virtio_net_hdr_v1 (TAP with
    /// IFF_VNET_HDR, used only when checksum/segmentation offloads are negotiated).
    /// </summary>
    int VnetHeaderSize { get; }

    /// <summary>Starts the receive thread, which hands frames to <paramref name="sink"/>. Called once.</summary>
    void Start(INetFrameSink sink);

    /// <summary>Sends one frame; false when the host side dropped it (no peer, a full queue, an error).</summary>
    bool Send(ReadOnlySpan<byte> frame);

    /// <summary>The sink has buffers again after answering <see cref="NetDelivery.NoRoom"/>.</summary>
    void ResumeReceive();
}
