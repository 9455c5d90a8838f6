using System.Buffers.Binary;
using C = Hypervisor.Devices.Virtio.VirtioPciLayout.Common;

namespace Hypervisor.Devices.Virtio;

/// <summary>struct virtio_pci_common_cfg (VIRTIO 1.2, 4.1.4.3) and the device status state machine (2.1, 3.1).</summary>
public sealed partial class VirtioPciTransport
{
    private uint _deviceFeatureSelect;
    private uint _driverFeatureSelect;
    private ulong _driverFeatures;
    private ushort _configVector;
    private ushort _queueSelect;

    private VirtQueue? SelectedQueue =>
        _queueSelect < Device.Queues.Count ? Device.Queues[_queueSelect] : null;

    /// <summary>Device reset (2.4, 4.1.4.3.1): a write of 0 to device_status, or PCI RST#.</summary>
    private void ResetTransport()
    {
        Device.ResetDevice();
        _status = VirtioDeviceStatus.None;
        _deviceFeatureSelect = _driverFeatureSelect = 0;
        _driverFeatures = 0;
        _configVector = VirtQueue.NoVector;
        _queueSelect = 0;
        _isr = 0;
        SetIntxLevel(false);
    }

    /// <summary>Any access width: the structure is materialised and the requested bytes copied out.</summary>
    private void ReadCommon(int offset, Span<byte> data)
    {
        Span<byte> image = stackalloc byte[(int)VirtioPciLayout.CommonConfigLength];
        FillCommon(image);
        if (offset < image.Length) image[offset..Math.Min(image.Length, offset + data.Length)].CopyTo(data);
    }

    private void FillCommon(Span<byte> image)
    {
        image.Clear();
        ulong offered = Device.OfferedFeatures;
        uint features = _deviceFeatureSelect switch
        {
            0 => (uint)offered,
            1 => (uint)(offered >> 32),
            _ => 0,
        };
        BinaryPrimitives.WriteUInt32LittleEndian(image[C.DeviceFeatureSelect..], _deviceFeatureSelect);
        BinaryPrimitives.WriteUInt32LittleEndian(image[C.DeviceFeature..], features);
        BinaryPrimitives.WriteUInt32LittleEndian(image[C.DriverFeatureSelect..], _driverFeatureSelect);
        uint driver = _driverFeatureSelect switch
        {
            0 => (uint)_driverFeatures,
            1 => (uint)(_driverFeatures >> 32),
            _ => 0,
        };
        BinaryPrimitives.WriteUInt32LittleEndian(image[C.DriverFeature..], driver);
        BinaryPrimitives.WriteUInt16LittleEndian(image[C.ConfigMsixVector..], _configVector);
        BinaryPrimitives.WriteUInt16LittleEndian(image[C.NumQueues..], (ushort)Device.Queues.Count);
        image[C.DeviceStatus] = (byte)_status;
        image[C.ConfigGeneration] = _configGeneration;
        BinaryPrimitives.WriteUInt16LittleEndian(image[C.QueueSelect..], _queueSelect);
        // A queue that does not exist reads size 0 (4.1.4.3.2); its other fields read 0 as well.
        if (SelectedQueue is not { } q) return;
        BinaryPrimitives.WriteUInt16LittleEndian(image[C.QueueSize..], q.Size);
        BinaryPrimitives.WriteUInt16LittleEndian(image[C.QueueMsixVector..], q.MsixVector);
        BinaryPrimitives.WriteUInt16LittleEndian(image[C.QueueEnable..], q.Enabled ? (ushort)1 : (ushort)0);
        BinaryPrimitives.WriteUInt16LittleEndian(image[C.QueueNotifyOff..], (ushort)q.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(image[C.QueueDesc..], q.DescriptorTable);
        BinaryPrimitives.WriteUInt64LittleEndian(image[C.QueueDriver..], q.DriverArea);
        BinaryPrimitives.WriteUInt64LittleEndian(image[C.QueueDevice..], q.DeviceArea);
        BinaryPrimitives.WriteUInt16LittleEndian(image[C.QueueNotifyConfigData..], (ushort)q.Index);
    }

    /// <summary>
    /// Merges the written bytes into the structure's image and applies every field they touched, in address order,
    /// so 32-bit halves of the 64-bit fields and any other width work. Returns whether DRIVER_OK was just set.
    /// </summary>
    private bool WriteCommon(int offset, ReadOnlySpan<byte> data)
    {
        Span<byte> image = stackalloc byte[(int)VirtioPciLayout.CommonConfigLength];
        FillCommon(image);
        if (offset >= image.Length) return false;
        int end = Math.Min(image.Length, offset + data.Length);
        data[..(end - offset)].CopyTo(image[offset..]);
        bool activated = false;
        ReadOnlySpan<int> fields =
        [
            C.DeviceFeatureSelect, C.DriverFeatureSelect, C.DriverFeature, C.ConfigMsixVector, C.DeviceStatus,
            C.QueueSelect, C.QueueSize, C.QueueMsixVector, C.QueueEnable, C.QueueDesc, C.QueueDriver, C.QueueDevice,
        ];
        foreach (int field in fields)
        {
            int width = FieldWidth(field);
            if (field >= end || offset >= field + width) continue;
            ulong value = width switch
            {
                1 => image[field],
                2 => BinaryPrimitives.ReadUInt16LittleEndian(image[field..]),
                4 => BinaryPrimitives.ReadUInt32LittleEndian(image[field..]),
                _ => BinaryPrimitives.ReadUInt64LittleEndian(image[field..]),
            };
            activated |= ApplyCommon(field, value);
        }
        return activated;
    }

    private static int FieldWidth(int field) => field switch
    {
        C.DeviceStatus => 1,
        C.ConfigMsixVector or C.QueueSelect or C.QueueSize or C.QueueMsixVector or C.QueueEnable => 2,
        C.QueueDesc or C.QueueDriver or C.QueueDevice => 8,
        _ => 4,
    };

    private bool ApplyCommon(int field, ulong value)
    {
        var queue = SelectedQueue;
        // Queue fields are fixed while the queue is enabled (4.1.4.3.2); the driver must disable by reset.
        bool queueWritable = queue is { Enabled: false };
        switch (field)
        {
            case C.DeviceFeatureSelect:
                _deviceFeatureSelect = (uint)value;
                break;
            case C.DriverFeatureSelect:
                _driverFeatureSelect = (uint)value;
                break;
            case C.DriverFeature when (_status & VirtioDeviceStatus.FeaturesOk) == 0:
                if (_driverFeatureSelect == 0) _driverFeatures = (_driverFeatures & ~0xFFFF_FFFFUL) | (uint)value;
                else if (_driverFeatureSelect == 1) _driverFeatures = (_driverFeatures & 0xFFFF_FFFFUL) | value << 32;
                break;
            case C.ConfigMsixVector:
                _configVector = ValidVector((ushort)value);
                break;
            case C.DeviceStatus:
                return WriteStatus((byte)value);
            case C.QueueSelect:
                _queueSelect = (ushort)value;
                break;
            case C.QueueSize when queueWritable:
                queue!.Size = (ushort)value;
                break;
            case C.QueueMsixVector when queue is not null:
                queue.MsixVector = ValidVector((ushort)value);
                break;
            case C.QueueEnable when queueWritable && value == 1:
                // The driver must not write 0 (4.1.4.3.2); a queue it cannot use is a driver error.
                if (queue!.Enable() is { } error) ReportDeviceError(error);
                break;
            case C.QueueDesc when queueWritable:
                queue!.DescriptorTable = value;
                break;
            case C.QueueDriver when queueWritable:
                queue!.DriverArea = value;
                break;
            case C.QueueDevice when queueWritable:
                queue!.DeviceArea = value;
                break;
        }
        return false;
    }

    /// <summary>A vector the MSI-X table does not have reads back as NO_VECTOR: the mapping failed (4.1.5.1.2).</summary>
    private ushort ValidVector(ushort vector) =>
        vector < MsiX!.TableSize ? vector : VirtQueue.NoVector;

    /// <summary>
    /// device_status: 0 resets; otherwise bits only accumulate (the driver never clears one, 2.1.1) and
    /// DEVICE_NEEDS_RESET is the device's. FEATURES_OK sticks only for an acceptable feature set (3.1.1 step 6)
    /// and DRIVER_OK only after FEATURES_OK. Returns whether DRIVER_OK was just set.
    /// </summary>
    private bool WriteStatus(byte value)
    {
        if (value == 0)
        {
            ResetTransport();
            return false;
        }
        var old = _status;
        var next = old | ((VirtioDeviceStatus)value & ~VirtioDeviceStatus.DeviceNeedsReset);
        bool Newly(VirtioDeviceStatus bit) => (next & bit) != 0 && (old & bit) == 0;
        if (Newly(VirtioDeviceStatus.FeaturesOk) && !Device.AcceptFeatures(_driverFeatures))
            next &= ~VirtioDeviceStatus.FeaturesOk;
        if ((next & VirtioDeviceStatus.FeaturesOk) == 0) next &= ~VirtioDeviceStatus.DriverOk;
        bool activate = Newly(VirtioDeviceStatus.DriverOk);
        _status = next;
        if (activate) Device.Activate();
        return activate;
    }
}
