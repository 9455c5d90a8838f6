using System.Buffers.Binary;
using Hypervisor.Devices.Virtio;
using Hypervisor.Devices.Virtio.Net;
using Hypervisor.Network;
using static Hypervisor.Devices.Virtio.Net.VirtioNetConstants;

namespace Hypervisor.Devices.Tests.Virtio;

public class VirtioNetTests
{
    private static readonly MacAddress GuestMac = new(0x52_54_00_12_34_56);
    private const ulong Mergeable = VirtioPciHarness.FullFeatures | FeatureMergeableRxBuffers | FeatureMac | FeatureStatus;

    private static (VirtioPciHarness H, FakeNetBackend Backend) Create()
    {
        var backend = new FakeNetBackend();
        var h = new VirtioPciHarness(memory => new VirtioNet(memory, backend, GuestMac));
        return (h, backend);
    }

    private static byte[] Frame(int length, byte seed)
    {
        var frame = new byte[length];
        for (int i = 0; i < length; i++) frame[i] = (byte)(seed + i * 13);
        GuestMac.Write(frame); // destination
        new MacAddress(0x52_54_00_AA_BB_CC).Write(frame.AsSpan(6));
        return frame;
    }

    [Fact]
    public void ConfigurationHoldsTheMacAndLinkUp()
    {
        var (h, _) = Create();
        using var _h = h;
        ulong offered = h.DeviceFeatures();
        Assert.Equal(FeatureMac | FeatureStatus | FeatureMergeableRxBuffers, offered & (FeatureMac | FeatureStatus | FeatureMergeableRxBuffers));
        h.Start(Mergeable);
        var mac = new byte[6];
        for (int i = 0; i < 6; i++) mac[i] = (byte)h.ReadDeviceConfig(i, 1);
        Assert.Equal(GuestMac, MacAddress.Read(mac));
        Assert.Equal(StatusLinkUp, (ushort)h.ReadDeviceConfig(6, 2));
        Assert.Equal(1u, (uint)h.ReadDeviceConfig(8, 2));
    }

    [Fact]
    public void TransmitSendsTheFrameWithoutItsHeader()
    {
        var (h, backend) = Create();
        using var _h = h;
        var rings = h.Start(Mergeable);
        var frame = Frame(100, 1);
        h.Memory.Write(0x20_0000, new byte[HeaderSize]);
        h.Memory.Write(0x20_1000, frame);
        rings[TransmitQueue].AddChain(0, (0x20_0000, HeaderSize, false), (0x20_1000, 100, false));
        h.Notify(TransmitQueue);
        Assert.Equal([(0u, 0u)], rings[TransmitQueue].TakeUsed());
        Assert.Equal(frame, Assert.Single(backend.Sent));
        Assert.Equal(1, ((VirtioNet)h.Device).TransmittedPackets);
    }

    [Fact]
    public void ARuntFrameIsDroppedButItsBufferReturned()
    {
        var (h, backend) = Create();
        using var _h = h;
        var rings = h.Start(Mergeable);
        rings[TransmitQueue].AddChain(0, (0x20_0000, HeaderSize + 4, false));
        h.Notify(TransmitQueue);
        Assert.Equal([(0u, 0u)], rings[TransmitQueue].TakeUsed());
        Assert.Empty(backend.Sent);
        Assert.Equal(1, ((VirtioNet)h.Device).TransmitDropped);
    }

    [Fact]
    public void MergeableReceiveSpreadsAFrameOverSeveralBuffers()
    {
        var (h, backend) = Create();
        using var _h = h;
        var rings = h.Start(Mergeable);
        var rx = rings[ReceiveQueue];
        for (int i = 0; i < 4; i++) rx.AddChain(i, (0x30_0000 + 0x1000UL * (uint)i, 1024, true));
        var frame = Frame(3000, 7);
        Assert.Equal(NetDelivery.Delivered, backend.Deliver(frame));
        Assert.Equal([(0u, 1024u), (1u, 1024u), (2u, 964u)], rx.TakeUsed());
        var header = h.Memory.GetReadOnlySpan(0x30_0000, HeaderSize);
        Assert.Equal(3, BinaryPrimitives.ReadUInt16LittleEndian(header[NumBuffersOffset..]));
        Assert.True(header[..NumBuffersOffset].IndexOfAnyExcept((byte)0) < 0);
        var received = new byte[3000];
        h.Memory.Read(0x30_0000 + HeaderSize, received.AsSpan(0, 1024 - HeaderSize));
        h.Memory.Read(0x30_1000, received.AsSpan(1024 - HeaderSize, 1024));
        h.Memory.Read(0x30_2000, received.AsSpan(2048 - HeaderSize, 3000 - 2048 + HeaderSize));
        Assert.Equal(frame, received);
        // The fourth buffer is still there for the next frame.
        Assert.Equal(NetDelivery.Delivered, backend.Deliver(Frame(60, 9)));
        Assert.Equal([(3u, 72u)], rx.TakeUsed());
        Assert.NotEqual(0, h.ReadIsr() & 1);
    }

    [Fact]
    public void AFrameLargerThanThePostedBuffersWaitsForMore()
    {
        var (h, backend) = Create();
        using var _h = h;
        var rings = h.Start(Mergeable);
        var rx = rings[ReceiveQueue];
        rx.AddChain(0, (0x30_0000, 1024, true));
        var frame = Frame(1500, 3);
        Assert.Equal(NetDelivery.NoRoom, backend.Deliver(frame));
        Assert.Empty(rx.TakeUsed());
        rx.AddChain(1, (0x30_1000, 1024, true));
        int resumes = backend.Resumes;
        h.Notify(ReceiveQueue);
        Assert.Equal(resumes + 1, backend.Resumes);
        Assert.Equal(NetDelivery.Delivered, backend.Deliver(frame));
        Assert.Equal([(0u, 1024u), (1u, 1500u + HeaderSize - 1024u)], rx.TakeUsed());
        Assert.Equal(0, ((VirtioNet)h.Device).ReceiveDropped);
    }

    [Fact]
    public void NoBuffersMeansNoRoomAndTheVmmLivesOn()
    {
        var (h, backend) = Create();
        using var _h = h;
        h.Start(Mergeable);
        for (int i = 0; i < 100; i++) Assert.Equal(NetDelivery.NoRoom, backend.Deliver(Frame(60, 1)));
        Assert.Equal(VirtioDeviceStatus.DriverOk, h.Status & (VirtioDeviceStatus.DriverOk | VirtioDeviceStatus.DeviceNeedsReset));
    }

    [Fact]
    public void WithoutMergeableBuffersAShortBufferDropsTheFrame()
    {
        var (h, backend) = Create();
        using var _h = h;
        var rings = h.Start(VirtioPciHarness.FullFeatures | FeatureMac);
        var rx = rings[ReceiveQueue];
        rx.AddChain(0, (0x30_0000, 512, true));
        rx.AddChain(1, (0x30_1000, 256, true), (0x30_2000, 2048, true));
        Assert.Equal(NetDelivery.Dropped, backend.Deliver(Frame(1000, 5)));
        Assert.Equal([(0u, 0u)], rx.TakeUsed());
        Assert.Equal(NetDelivery.Delivered, backend.Deliver(Frame(1000, 5)));
        Assert.Equal([(1u, 1012u)], rx.TakeUsed());
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(h.Memory.GetReadOnlySpan(0x30_1000 + NumBuffersOffset, 2)));
        Assert.Equal(1, ((VirtioNet)h.Device).ReceiveDropped);
        Assert.Equal(1, ((VirtioNet)h.Device).ReceivedPackets);
    }

    [Fact]
    public void AfterResetFramesAreDroppedUntilTheDriverIsBack()
    {
        var (h, backend) = Create();
        using var _h = h;
        var rings = h.Start(Mergeable);
        rings[ReceiveQueue].AddChain(0, (0x30_0000, 2048, true));
        h.SetStatus(0);
        Assert.Equal((VirtioDeviceStatus)0, h.Status);
        Assert.Equal(NetDelivery.Dropped, backend.Deliver(Frame(60, 1)));
        rings = h.Start(Mergeable);
        rings[ReceiveQueue].AddChain(0, (0x30_0000, 2048, true));
        Assert.Equal(NetDelivery.Delivered, backend.Deliver(Frame(60, 1)));
        Assert.Equal([(0u, 72u)], rings[ReceiveQueue].TakeUsed());
    }

    [Fact]
    public void LinkDownIsAConfigurationChange()
    {
        var (h, backend) = Create();
        using var _h = h;
        var rings = h.Start(Mergeable);
        h.ReadIsr();
        ((VirtioNet)h.Device).SetLinkUp(false);
        Assert.Equal(0u, (uint)h.ReadDeviceConfig(6, 2));
        Assert.NotEqual(0, h.ReadIsr() & 2);
        rings[ReceiveQueue].AddChain(0, (0x30_0000, 2048, true));
        Assert.Equal(NetDelivery.Dropped, backend.Deliver(Frame(60, 1)));
    }

    [Fact]
    public void ReceiveBuffersOutsideRamBreakTheQueueNotTheVmm()
    {
        var (h, backend) = Create();
        using var _h = h;
        var rings = h.Start(Mergeable);
        rings[ReceiveQueue].AddChain(0, (VirtioPciHarness.RomBase, 2048, true));
        Assert.Equal(NetDelivery.Dropped, backend.Deliver(Frame(60, 1)));
        Assert.NotEqual((VirtioDeviceStatus)0, h.Status & VirtioDeviceStatus.DeviceNeedsReset);
        Assert.True(h.CanaryIntact);
    }
}
