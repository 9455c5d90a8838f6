namespace Hypervisor.Devices.Virtio.Console;

/// <summary>
/// The multiport control protocol (VIRTIO 1.2, 5.3.6.2): struct virtio_console_control { le32 id; le16 event;
/// le16 value; }, on control receiveq (device to driver) and control transmitq (driver to device).
/// </summary>
public static class VirtioConsoleControl
{
    public const ulong FeatureSize = 1UL << 0;
    public const ulong FeatureMultiport = 1UL << 1;

    public const int MessageSize = 8;

    public const ushort DeviceReady = 0;
    public const ushort DeviceAdd = 1;
    public const ushort DeviceRemove = 2;
    public const ushort PortReady = 3;
    public const ushort ConsolePort = 4;
    public const ushort Resize = 5;
    public const ushort PortOpen = 6;
    public const ushort PortName = 7;

    /// <summary>Queue 2 and 3 carry control messages; port n >= 1 uses queues 2n+2 (receive) and 2n+3 (transmit) (5.3.2).</summary>
    public const int ControlReceiveQueue = 2;
    public const int ControlTransmitQueue = 3;

    public static int ReceiveQueueOf(int port) => port == 0 ? 0 : 2 * port + 2;

    public static int TransmitQueueOf(int port) => port == 0 ? 1 : 2 * port + 3;
}
