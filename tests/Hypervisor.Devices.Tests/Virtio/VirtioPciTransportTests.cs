using Hypervisor.Devices.Pci;
using Hypervisor.Devices.Virtio;
using Hypervisor.Devices.Virtio.Rng;
using C = Hypervisor.Devices.Virtio.VirtioPciLayout.Common;
using S = Hypervisor.Devices.Virtio.VirtioDeviceStatus;

namespace Hypervisor.Devices.Tests.Virtio;

public class VirtioPciTransportTests
{
    private const int Slot = VirtioPciHarness.Slot;

    private static VirtioPciHarness Rng() => new(memory => new VirtioRng(memory));

    [Fact]
    public void IdentifiesAsModernVirtioDevice()
    {
        using var h = Rng();
        Assert.Equal(0x1AF4u, h.Pc.ReadConfig(Slot, 0, PciRegisters.VendorId, 2));
        Assert.Equal(0x1044u, h.Pc.ReadConfig(Slot, 0, PciRegisters.DeviceId, 2));
        Assert.True(h.Pc.ReadConfig(Slot, 0, PciRegisters.RevisionId, 1) >= 1);
        Assert.Equal(0x1AF4u, h.Pc.ReadConfig(Slot, 0, PciRegisters.SubsystemVendorId, 2));
        Assert.True(h.Pc.ReadConfig(Slot, 0, PciRegisters.SubsystemId, 2) >= 0x40);
    }

    [Fact]
    public void VendorCapabilitiesDescribeTheStructuresInBar4()
    {
        using var h = Rng();
        var found = new Dictionary<byte, (byte Bar, uint Offset, uint Length, int At)>();
        foreach (var (id, offset) in h.Transport.Config.WalkCapabilities())
        {
            if (id != PciCapabilityId.VendorSpecific) continue;
            byte type = (byte)h.Pc.ReadConfig(Slot, 0, offset + 3, 1);
            found[type] = ((byte)h.Pc.ReadConfig(Slot, 0, offset + 4, 1), h.Pc.ReadConfig(Slot, 0, offset + 8, 4),
                h.Pc.ReadConfig(Slot, 0, offset + 12, 4), offset);
        }
        Assert.Equal(new byte[] { 1, 2, 3, 5 }, found.Keys.Order()); // rng has no device configuration
        Assert.Equal(((byte)4, 0u, 0x40u), (found[1].Bar, found[1].Offset, found[1].Length));
        Assert.Equal(((byte)4, 0x1000u, 1u), (found[3].Bar, found[3].Offset, found[3].Length));
        Assert.Equal(((byte)4, 0x3000u, 4u), (found[2].Bar, found[2].Offset, found[2].Length));
        Assert.Equal(20u, h.Pc.ReadConfig(Slot, 0, found[2].At + 2, 1));
        Assert.Equal(4u, h.Pc.ReadConfig(Slot, 0, found[2].At + 16, 4)); // notify_off_multiplier
        Assert.Contains(h.Transport.Config.WalkCapabilities(), c => c.Id == PciCapabilityId.MsiX);
    }

    [Fact]
    public void OffersVersion1AndRingFeatures()
    {
        using var h = Rng();
        ulong features = h.DeviceFeatures();
        Assert.Equal(VirtioPciHarness.FullFeatures, features);
        h.Write(C.DeviceFeatureSelect, 4, 2);
        Assert.Equal(0ul, h.Read(C.DeviceFeature, 4));
    }

    [Fact]
    public void FeaturesOkRequiresVersion1AndASubsetOfTheOffer()
    {
        using var h = Rng();
        Assert.False(h.Negotiate(VirtioFeatures.RingEventIndex)); // a legacy driver
        Assert.False(h.Negotiate(VirtioFeatures.Version1 | 1UL << 40)); // not offered
        Assert.True(h.Negotiate(VirtioFeatures.Version1));
        Assert.Equal(VirtioFeatures.Version1, h.Device.NegotiatedFeatures);
        // After FEATURES_OK the driver's features are fixed.
        h.WriteDriverFeatures(VirtioPciHarness.FullFeatures);
        h.Write(C.DriverFeatureSelect, 4, 1);
        Assert.Equal(1ul, h.Read(C.DriverFeature, 4));
    }

    [Fact]
    public void DriverOkNeedsFeaturesOkAndBitsOnlyAccumulate()
    {
        using var h = Rng();
        h.SetStatus(S.Acknowledge | S.Driver | S.DriverOk);
        Assert.Equal(S.Acknowledge | S.Driver, h.Status);
        h.SetStatus(S.Acknowledge);
        Assert.Equal(S.Acknowledge | S.Driver, h.Status);
        h.SetStatus(S.Acknowledge | S.Driver | S.DeviceNeedsReset);
        Assert.Equal(S.Acknowledge | S.Driver, h.Status); // NEEDS_RESET is the device's bit
    }

    [Fact]
    public void QueueRegistersReadBackAndAbsentQueuesReadSizeZero()
    {
        using var h = Rng();
        Assert.Equal(1ul, h.Read(C.NumQueues, 2));
        Assert.Equal((ulong)VirtioRng.DefaultQueueSize, h.Read(C.QueueSize, 2));
        Assert.Equal((ulong)VirtQueue.NoVector, h.Read(C.QueueMsixVector, 2));
        h.Write(C.QueueDesc, 8, 0x1234_5670);
        h.Write(C.QueueDriver + 4, 4, 0x1);
        Assert.Equal(0x1234_5670ul, h.Read(C.QueueDesc, 8));
        Assert.Equal(0x1_0000_0000ul, h.Read(C.QueueDriver, 8));
        h.Write(C.QueueSelect, 2, 1);
        Assert.Equal(0ul, h.Read(C.QueueSize, 2));
        h.Write(C.QueueSize, 2, 8); // ignored: there is no queue 1
        Assert.Equal(0ul, h.Read(C.QueueSize, 2));
    }

    [Fact]
    public void EnabledQueueIgnoresFurtherSetupWrites()
    {
        using var h = Rng();
        h.Negotiate(VirtioFeatures.Version1);
        var ring = new SplitRingDriver(h.Memory, 0x10_0000, 8);
        h.SetupQueue(0, ring);
        Assert.Equal(1ul, h.Read(C.QueueEnable, 2));
        h.Write(C.QueueSize, 2, 4);
        h.Write(C.QueueDesc, 4, 0x20_0000);
        h.Write(C.QueueEnable, 2, 0);
        Assert.Equal(8ul, h.Read(C.QueueSize, 2));
        Assert.Equal(ring.DescriptorTable, h.Read(C.QueueDesc, 8));
        Assert.Equal(1ul, h.Read(C.QueueEnable, 2));
    }

    [Theory]
    [InlineData(6, 0x10_0000ul)] // not a power of 2
    [InlineData(8, 0x10_0008ul)] // descriptor table not 16-byte aligned
    [InlineData(8, 0xFFFF_0000ul)] // outside RAM
    public void EnablingAnUnusableQueueSetsNeedsReset(ushort size, ulong table)
    {
        using var h = Rng();
        h.Negotiate(VirtioFeatures.Version1);
        h.Write(C.QueueSize, 2, size);
        h.Write(C.QueueDesc, 8, table);
        h.Write(C.QueueDriver, 8, 0x11_0000);
        h.Write(C.QueueDevice, 8, 0x12_0000);
        h.Write(C.QueueEnable, 2, 1);
        Assert.Equal(0ul, h.Read(C.QueueEnable, 2));
        Assert.True((h.Status & S.DeviceNeedsReset) != 0);
    }

    [Fact]
    public void ResetClearsEverything()
    {
        using var h = Rng();
        var rings = h.Start();
        h.Write(C.ConfigMsixVector, 2, 0);
        h.Write(C.QueueMsixVector, 2, 1);
        h.Write(C.DeviceFeatureSelect, 4, 1);
        rings[0].AddChain(0, (0x20_0000, 16, true));
        h.Notify(0);
        Assert.Single(rings[0].TakeUsed());

        h.SetStatus(S.None);
        Assert.Equal(S.None, h.Status);
        Assert.Equal(0ul, h.Read(C.DeviceFeatureSelect, 4));
        Assert.Equal(0ul, h.Device.NegotiatedFeatures);
        Assert.Equal((ulong)VirtQueue.NoVector, h.Read(C.ConfigMsixVector, 2));
        Assert.Equal(0ul, h.Read(C.QueueSelect, 2));
        Assert.Equal((ulong)VirtioRng.DefaultQueueSize, h.Read(C.QueueSize, 2));
        Assert.Equal(0ul, h.Read(C.QueueEnable, 2));
        Assert.Equal((ulong)VirtQueue.NoVector, h.Read(C.QueueMsixVector, 2));
        Assert.Equal(0ul, h.Read(C.QueueDesc, 8) | h.Read(C.QueueDriver, 8) | h.Read(C.QueueDevice, 8));
        Assert.Equal(0, h.Device.Queues[0].LastAvailableIndex);
        Assert.Equal(0, h.ReadIsr());

        // The device starts over: the same ring from index 0 works again.
        var ring = h.Start()[0];
        ring.AddChain(0, (0x20_0000, 16, true));
        h.Notify(0);
        Assert.Single(ring.TakeUsed());
    }

    [Fact]
    public void IntxIsRaisedWithIsrBit0AndReadingTheIsrLowersIt()
    {
        using var h = Rng();
        var ring = h.Start()[0];
        ring.AddChain(0, (0x20_0000, 16, true));
        h.Notify(0);
        Assert.True(h.Pc.Interrupts.Level(VirtioPciHarness.IntxIrq));
        Assert.Equal(1, h.ReadIsr());
        Assert.False(h.Pc.Interrupts.Level(VirtioPciHarness.IntxIrq));
        Assert.Equal(0, h.ReadIsr());
    }

    [Fact]
    public void MsiXSendsTheQueueVectorAndRejectsVectorsTheTableLacks()
    {
        using var h = Rng();
        var ring = h.Start()[0];
        h.Write(C.QueueMsixVector, 2, 5);
        Assert.Equal((ulong)VirtQueue.NoVector, h.Read(C.QueueMsixVector, 2)); // table has 2 entries
        h.Write(C.QueueMsixVector, 2, 1);
        Assert.Equal(1ul, h.Read(C.QueueMsixVector, 2));
        h.Pc.MmioWrite(VirtioPciHarness.MsiXBar + 16, 8, 0xFEE0_0000);
        h.Pc.MmioWrite(VirtioPciHarness.MsiXBar + 24, 4, 0x4041);
        h.Pc.MmioWrite(VirtioPciHarness.MsiXBar + 28, 4, 0);
        int control = h.Transport.MsiX!.Offset + 2;
        h.Pc.WriteConfig(Slot, 0, control, 2, 1u << 15);

        ring.AddChain(0, (0x20_0000, 16, true));
        h.Notify(0);
        Assert.Equal((0xFEE0_0000ul, 0x4041u), Assert.Single(h.Pc.Interrupts.Messages));
        Assert.False(h.Pc.Interrupts.Level(VirtioPciHarness.IntxIrq));
    }

    [Fact]
    public void NotificationsToQueuesNeverSetUpAreIgnored()
    {
        using var h = Rng();
        h.Notify(0); // before anything
        h.Negotiate(VirtioFeatures.Version1);
        h.Notify(0); // queue not enabled
        h.Notify(3); // no such queue
        h.Write((int)VirtioPciLayout.NotifyOffset + 0xFF0, 4, 0);
        Assert.Equal(S.Acknowledge | S.Driver | S.FeaturesOk, h.Status);
        Assert.Equal(0, h.Device.Queues[0].LastAvailableIndex);
    }

    [Fact]
    public void PciConfigurationAccessCapabilityReachesTheBar()
    {
        using var h = Rng();
        int cap = h.Transport.Config.WalkCapabilities()
            .Where(c => c.Id == PciCapabilityId.VendorSpecific)
            .Single(c => h.Pc.ReadConfig(Slot, 0, c.Offset + 3, 1) == VirtioPciLayout.CapPciConfig).Offset;
        h.Pc.WriteConfig(Slot, 0, cap + 4, 1, 4);
        h.Pc.WriteConfig(Slot, 0, cap + 8, 4, C.NumQueues);
        h.Pc.WriteConfig(Slot, 0, cap + 12, 4, 2);
        Assert.Equal(1u, h.Pc.ReadConfig(Slot, 0, cap + 16, 4) & 0xFFFF);
        h.Pc.WriteConfig(Slot, 0, cap + 8, 4, C.DeviceStatus);
        h.Pc.WriteConfig(Slot, 0, cap + 12, 4, 1);
        h.Pc.WriteConfig(Slot, 0, cap + 16, 4, (uint)S.Acknowledge);
        Assert.Equal(S.Acknowledge, h.Status);
    }

    [Fact]
    public void QueueNotifyAddressFollowsTheBar()
    {
        using var h = Rng();
        Assert.Equal(VirtioPciHarness.StructureBar + 0x3000, h.Transport.QueueNotifyAddress(0));
        Assert.Null(h.Transport.QueueNotifyAddress(1));
        h.Pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, 0);
        Assert.Null(h.Transport.QueueNotifyAddress(0));
    }
}
