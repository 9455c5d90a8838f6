namespace Hypervisor.Devices.Virtio;

/// <summary>The device_status bits (VIRTIO 1.2, 2.1).</summary>
[Flags]
public enum VirtioDeviceStatus : byte
{
    None = 0,
    Acknowledge = 1,
    Driver = 2,
    DriverOk = 4,
    FeaturesOk = 8,

    /// <summary>Set by the device only: it hit an error it cannot recover from without a reset (2.1.2).</summary>
    DeviceNeedsReset = 0x40,
    Failed = 0x80,
}

/// <summary>Device IDs (VIRTIO 1.2, 5); the modern PCI device ID is 0x1040 plus this (4.1.2).</summary>
public enum VirtioDeviceType : ushort
{
    Network = 1,
    Block = 2,
    Console = 3,
    Entropy = 4,
}

/// <summary>Feature bits that are not device-specific (VIRTIO 1.2, 6).</summary>
public static class VirtioFeatures
{
    public const ulong RingIndirectDescriptors = 1UL << 28;
    public const ulong RingEventIndex = 1UL << 29;

    /// <summary>Marks a 1.x (non-legacy) driver; hv offers no legacy interface, so it is mandatory (6.1).</summary>
    public const ulong Version1 = 1UL << 32;

    /// <summary>What every hv virtio device offers on top of its own bits.</summary>
    public const ulong Transport = RingIndirectDescriptors | RingEventIndex | Version1;
}
