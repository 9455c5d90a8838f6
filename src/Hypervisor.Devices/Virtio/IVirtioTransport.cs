namespace Hypervisor.Devices.Virtio;

/// <summary>
/// What a virtio device needs from the transport that carries it (PCI here; MMIO would be another): the lock that
/// serialises device and register state, and the three things a device tells its driver (VIRTIO 1.2, 2.3, 2.1.2).
/// </summary>
public interface IVirtioTransport
{
    object SyncRoot { get; }

    /// <summary>DRIVER_OK is set and FAILED is not: the device may use its queues (3.1.1).</summary>
    bool IsDriverOk { get; }

    /// <summary>A used buffer notification for <paramref name="queue"/> (2.3): ISR bit 0 or the queue's vector.</summary>
    void SignalUsedBuffers(VirtQueue queue);

    /// <summary>The device configuration changed: config_generation moves and a configuration notification goes out.</summary>
    void SignalConfigChange();

    /// <summary>Sets DEVICE_NEEDS_RESET and sends a configuration change notification (2.1.2).</summary>
    void ReportDeviceError(string reason);
}
