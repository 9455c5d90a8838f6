using Hypervisor.Devices.Pci;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Virtio;

/// <summary>
/// Virtio over PCI, modern interface only (VIRTIO 1.2, 4.1): the common, notification, ISR, device and PCI
/// configuration access capabilities point into BAR4; MSI-X (one vector per queue plus one for configuration
/// changes) lives in BAR1 and INTx#, acknowledged by reading the ISR, is used while MSI-X is off. Works the same
/// under BT (notifications are MMIO writes) and KVM (the machine may bind <see cref="QueueNotifyAddress"/> to an
/// ioeventfd that calls <see cref="NotifyQueue"/>).
/// </summary>
public sealed partial class VirtioPciTransport : PciDevice, IVirtioTransport
{
    private const byte IsrQueue = 1;
    private const byte IsrConfig = 2;

    private readonly int _pciCfgCap;
    private VirtioDeviceStatus _status;
    private byte _isr;
    private byte _configGeneration;

    public VirtioPciTransport(VirtioDevice device, string? name = null)
        : base(name ?? $"virtio-{device.Type.ToString().ToLowerInvariant()}", VirtioPciLayout.VendorId,
            (ushort)(VirtioPciLayout.DeviceIdBase + (ushort)device.Type), VirtioPciLayout.ClassCode(device.Type),
            VirtioPciLayout.Revision, PciInterruptPin.IntA)
    {
        if (device.ConfigSize > (int)VirtioPciLayout.RegionSize)
            throw new ArgumentException("device configuration does not fit its BAR region", nameof(device));
        Device = device;
        device.Attach(this);
        Config.SetWord(PciRegisters.SubsystemVendorId, VirtioPciLayout.VendorId);
        // Subsystem ID 0x40 and up for modern-only devices (4.1.2.1), as QEMU does.
        Config.SetWord(PciRegisters.SubsystemId, 0x1100);

        DeclareMemoryBar(VirtioPciLayout.StructureBar, VirtioPciLayout.StructureBarSize, new StructureBar(this), is64Bit: true);
        var msix = AddMsiXCapability(device.Queues.Count + 1, VirtioPciLayout.MsiXBar, VirtioPciLayout.MsiXTableOffset,
            VirtioPciLayout.MsiXBar, VirtioPciLayout.MsiXPbaOffset);
        DeclareMemoryBar(VirtioPciLayout.MsiXBar, VirtioPciLayout.MsiXBarSize, msix.CreateBarHandler(VirtioPciLayout.MsiXBar));

        AddVirtioCapability(VirtioPciLayout.CapCommonConfig, VirtioPciLayout.CommonConfigOffset, VirtioPciLayout.CommonConfigLength);
        AddVirtioCapability(VirtioPciLayout.CapIsrConfig, VirtioPciLayout.IsrOffset, 1);
        if (device.ConfigSize > 0)
            AddVirtioCapability(VirtioPciLayout.CapDeviceConfig, VirtioPciLayout.DeviceConfigOffset, (uint)device.ConfigSize);
        int notify = AddVirtioCapability(VirtioPciLayout.CapNotifyConfig, VirtioPciLayout.NotifyOffset,
            (uint)device.Queues.Count * VirtioPciLayout.NotifyOffsetMultiplier, extra: 4);
        Config.SetDword(notify + 16, VirtioPciLayout.NotifyOffsetMultiplier);
        // At least one PCI configuration access capability is mandatory (4.1.4.9); its bar/offset/length/data are R/W.
        _pciCfgCap = AddVirtioCapability(VirtioPciLayout.CapPciConfig, 0, 0, extra: 4);
        Config.SetWriteMask(_pciCfgCap + 4, 1, 0xFF);
        Config.SetWriteMask(_pciCfgCap + 8, 4, 0xFFFF_FFFF);
        Config.SetWriteMask(_pciCfgCap + 12, 4, 0xFFFF_FFFF);
        Config.SetWriteMask(_pciCfgCap + 16, 4, 0xFFFF_FFFF);
        ResetTransport();
    }

    public VirtioDevice Device { get; }

    public VirtioDeviceStatus Status
    {
        get
        {
            lock (SyncRoot) return _status;
        }
    }

    public bool IsDriverOk =>
        (_status & (VirtioDeviceStatus.DriverOk | VirtioDeviceStatus.Failed)) == VirtioDeviceStatus.DriverOk;

    /// <summary>
    /// The guest-physical address whose write notifies queue <paramref name="queue"/>, while BAR4 is decoded; the
    /// machine may register an ioeventfd there (any value, 2 bytes) and call <see cref="NotifyQueue"/> on it.
    /// </summary>
    public ulong? QueueNotifyAddress(int queue)
    {
        if ((uint)queue >= (uint)Device.Queues.Count) return null;
        return Bars[VirtioPciLayout.StructureBar]?.MappedAddress is { } bar
            ? bar + VirtioPciLayout.NotifyOffset + (ulong)queue * VirtioPciLayout.NotifyOffsetMultiplier
            : null;
    }

    /// <summary>
    /// Raised (under the device lock) when the notification addresses moved: BAR4 was mapped, moved or unmapped.
    /// The machine re-registers its ioeventfds at <see cref="QueueNotifyAddress"/> then.
    /// </summary>
    public event Action<VirtioPciTransport>? NotifyAddressesChanged;

    protected override void OnBarMoved(PciBar bar)
    {
        if (bar.Index == VirtioPciLayout.StructureBar) NotifyAddressesChanged?.Invoke(this);
    }

    /// <summary>A queue notification that did not come through the BAR (an ioeventfd fired).</summary>
    public void NotifyQueue(int queue) => Device.Notify(queue);

    public void SignalUsedBuffers(VirtQueue queue)
    {
        lock (SyncRoot)
        {
            if (!IsDriverOk) return;
            _isr |= IsrQueue;
            Raise(queue.MsixVector);
        }
    }

    public void SignalConfigChange()
    {
        lock (SyncRoot)
        {
            _configGeneration++;
            if (!IsDriverOk) return;
            _isr |= IsrConfig;
            Raise(_configVector);
        }
    }

    public void ReportDeviceError(string reason)
    {
        lock (SyncRoot)
        {
            bool already = (_status & VirtioDeviceStatus.DeviceNeedsReset) != 0;
            _status |= VirtioDeviceStatus.DeviceNeedsReset;
            // With DRIVER_OK set the device must tell the driver with a configuration change notification (2.1.2).
            if (already || (_status & VirtioDeviceStatus.DriverOk) == 0) return;
            _isr |= IsrConfig;
            Raise(_configVector);
        }
    }

    public override uint ReadConfig(int offset, int size)
    {
        lock (SyncRoot)
        {
            if (Touches(offset, size, _pciCfgCap + 16, 4)) PciCfgAccess(write: false);
            return base.ReadConfig(offset, size);
        }
    }

    protected override void OnConfigWritten(int offset, int size, uint value)
    {
        if (Touches(offset, size, _pciCfgCap + 16, 4)) PciCfgAccess(write: true);
    }

    protected override void OnReset() => ResetTransport();

    /// <summary>MSI-X when enabled (a vector of NO_VECTOR sends nothing, 4.1.5.1.2), INTx# otherwise (4.1.4.5).</summary>
    private void Raise(ushort vector)
    {
        if (MsiX is { Enabled: true })
        {
            if (vector != VirtQueue.NoVector) NotifyVector(vector);
        }
        else
        {
            SetIntxLevel(true);
        }
    }

    /// <summary>Reading the ISR clears it and deasserts INTx# (4.1.4.5.1).</summary>
    private byte ReadIsr()
    {
        byte isr = _isr;
        _isr = 0;
        SetIntxLevel(false);
        return isr;
    }

    /// <summary>
    /// The pci_cfg_data window (4.1.4.9): an access of cap.length (1, 2 or 4) bytes at cap.offset in BAR cap.bar,
    /// done when the driver reads or writes the data field. Other lengths or BARs do nothing (4.1.4.9.1).
    /// </summary>
    private void PciCfgAccess(bool write)
    {
        int bar = Config.GetByte(_pciCfgCap + 4);
        uint offset = Config.GetDword(_pciCfgCap + 8);
        uint length = Config.GetDword(_pciCfgCap + 12);
        if (bar != VirtioPciLayout.StructureBar || length is not (1 or 2 or 4) || offset % length != 0 ||
            offset + length > VirtioPciLayout.StructureBarSize)
            return;
        Span<byte> data = stackalloc byte[4];
        if (write)
        {
            BusData.From(data, Config.GetDword(_pciCfgCap + 16));
            WriteStructure(offset, data[..(int)length]);
        }
        else
        {
            data.Clear();
            ReadStructure(offset, data[..(int)length]);
            Config.SetDword(_pciCfgCap + 16, BusData.ToUInt32(data));
        }
    }

    private int AddVirtioCapability(byte cfgType, ulong offset, uint length, int extra = 0)
    {
        int cap = AddCapability(PciCapabilityId.VendorSpecific, 16 + extra);
        Config.SetByte(cap + 2, (byte)(16 + extra));
        Config.SetByte(cap + 3, cfgType);
        Config.SetByte(cap + 4, cfgType == VirtioPciLayout.CapPciConfig ? (byte)0 : (byte)VirtioPciLayout.StructureBar);
        Config.SetDword(cap + 8, (uint)offset);
        Config.SetDword(cap + 12, length);
        return cap;
    }

    private void ReadStructure(ulong offset, Span<byte> data)
    {
        data.Clear();
        lock (SyncRoot)
        {
            ulong region = offset & ~(VirtioPciLayout.RegionSize - 1);
            int at = (int)(offset - region);
            if (at + data.Length > (int)VirtioPciLayout.RegionSize) return;
            switch (region)
            {
                case VirtioPciLayout.CommonConfigOffset:
                    ReadCommon(at, data);
                    break;
                case VirtioPciLayout.IsrOffset:
                    if (at == 0) data[0] = ReadIsr();
                    break;
                case VirtioPciLayout.DeviceConfigOffset:
                    if (at < Device.ConfigSize) Device.ReadConfig(at, data);
                    break;
            }
        }
    }

    private void WriteStructure(ulong offset, ReadOnlySpan<byte> data)
    {
        ulong region = offset & ~(VirtioPciLayout.RegionSize - 1);
        int at = (int)(offset - region);
        if (at + data.Length > (int)VirtioPciLayout.RegionSize) return;
        switch (region)
        {
            case VirtioPciLayout.CommonConfigOffset:
                bool activated;
                lock (SyncRoot) activated = WriteCommon(at, data);
                // Buffers made available before DRIVER_OK are picked up now, outside the lock like any notify.
                if (activated)
                    for (int q = 0; q < Device.Queues.Count; q++) Device.Notify(q);
                break;
            case VirtioPciLayout.DeviceConfigOffset:
                lock (SyncRoot)
                    if (at < Device.ConfigSize) Device.WriteConfig(at, data);
                break;
            case VirtioPciLayout.NotifyOffset:
                // The queue is named by the address (multiplier 4), whatever value is written (4.1.4.4).
                if (at % VirtioPciLayout.NotifyOffsetMultiplier == 0)
                    Device.Notify(at / (int)VirtioPciLayout.NotifyOffsetMultiplier);
                break;
        }
    }

    private static bool Touches(int offset, int size, int start, int length) =>
        offset < start + length && start < offset + size;

    private sealed class StructureBar(VirtioPciTransport transport) : IBusDevice
    {
        public void Read(ulong baseAddress, ulong offset, Span<byte> data) => transport.ReadStructure(offset, data);

        public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data) => transport.WriteStructure(offset, data);
    }
}
