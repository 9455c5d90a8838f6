namespace Hypervisor.Devices.Virtio;

/// <summary>
/// Where hv puts the virtio structures (VIRTIO 1.2, 4.1.4): everything in 64-bit memory BAR4, one 4 KiB page per
/// structure as QEMU lays it out, and the MSI-X table and PBA in BAR1.
/// </summary>
public static class VirtioPciLayout
{
    public const ushort VendorId = 0x1AF4;

    /// <summary>Modern device IDs are 0x1040 + the virtio device ID (4.1.2.1).</summary>
    public const ushort DeviceIdBase = 0x1040;

    /// <summary>Revision 1 or higher marks a non-transitional device (4.1.2.1).</summary>
    public const byte Revision = 1;

    public const int StructureBar = 4;
    public const ulong StructureBarSize = 0x4000;
    public const ulong CommonConfigOffset = 0x0000;
    public const uint CommonConfigLength = 0x40;
    public const ulong IsrOffset = 0x1000;
    public const ulong DeviceConfigOffset = 0x2000;
    public const ulong NotifyOffset = 0x3000;
    public const ulong RegionSize = 0x1000;

    /// <summary>Each queue gets its own notification address, so an ioeventfd can match it without data (4.1.4.4).</summary>
    public const uint NotifyOffsetMultiplier = 4;

    public const int MsiXBar = 1;
    public const ulong MsiXBarSize = 0x1000;
    public const uint MsiXTableOffset = 0;
    public const uint MsiXPbaOffset = 0x800;

    /// <summary>cfg_type values of struct virtio_pci_cap (4.1.4).</summary>
    public const byte CapCommonConfig = 1;
    public const byte CapNotifyConfig = 2;
    public const byte CapIsrConfig = 3;
    public const byte CapDeviceConfig = 4;
    public const byte CapPciConfig = 5;

    /// <summary>struct virtio_pci_common_cfg field offsets (4.1.4.3).</summary>
    public static class Common
    {
        public const int DeviceFeatureSelect = 0;
        public const int DeviceFeature = 4;
        public const int DriverFeatureSelect = 8;
        public const int DriverFeature = 12;
        public const int ConfigMsixVector = 16;
        public const int NumQueues = 18;
        public const int DeviceStatus = 20;
        public const int ConfigGeneration = 21;
        public const int QueueSelect = 22;
        public const int QueueSize = 24;
        public const int QueueMsixVector = 26;
        public const int QueueEnable = 28;
        public const int QueueNotifyOff = 30;
        public const int QueueDesc = 32;
        public const int QueueDriver = 40;
        public const int QueueDevice = 48;
        public const int QueueNotifyConfigData = 56;
        public const int QueueReset = 58;
    }

    /// <summary>PCI class codes QEMU gives each device type, which guests' lspci expects.</summary>
    public static uint ClassCode(VirtioDeviceType type) => type switch
    {
        VirtioDeviceType.Network => 0x02_00_00,
        VirtioDeviceType.Block => 0x01_00_00,
        VirtioDeviceType.Console => 0x07_80_00,
        _ => 0xFF_00_00,
    };
}
