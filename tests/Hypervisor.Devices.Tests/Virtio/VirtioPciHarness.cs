using Hypervisor.Devices.Pci;
using Hypervisor.Devices.Tests.Pci;
using Hypervisor.Devices.Virtio;
using Hypervisor.Platform.Memory;
using C = Hypervisor.Devices.Virtio.VirtioPciLayout.Common;

namespace Hypervisor.Devices.Tests.Virtio;

/// <summary>
/// A virtio device on a PC's PCI bus, driven through MMIO as a guest driver drives it. Guest RAM is 16 MiB at 0;
/// a 64 KiB ROM right above it holds a canary pattern that no device access may change.
/// </summary>
internal sealed class VirtioPciHarness : IDisposable
{
    public const int Slot = 7;
    public const int IntxIrq = 11; // slot 7 INTA -> PIRQD -> IRQ 11 with the default routes
    public const ulong StructureBar = 0xE000_0000;
    public const ulong MsiXBar = 0xE100_0000;
    public const ulong RamSize = 16 << 20;
    public const ulong RomBase = RamSize;
    public const int RomSize = 64 << 10;
    public const ulong FullFeatures = VirtioFeatures.Version1 | VirtioFeatures.RingIndirectDescriptors | VirtioFeatures.RingEventIndex;

    public VirtioPciHarness(Func<GuestMemory, VirtioDevice> create)
    {
        Memory = NewMemory();
        Device = create(Memory);
        Transport = new VirtioPciTransport(Device);
        Pc.Root.IsaBridge.ProgramDefaultRoutes();
        Pc.Root.AddDevice(Transport, Slot);
        Pc.WriteConfig(Slot, 0, PciRegisters.Bar0 + 4 * VirtioPciLayout.StructureBar, 4, (uint)StructureBar);
        Pc.WriteConfig(Slot, 0, PciRegisters.Bar0 + 4 * VirtioPciLayout.StructureBar + 4, 4, 0);
        Pc.WriteConfig(Slot, 0, PciRegisters.Bar0 + 4 * VirtioPciLayout.MsiXBar, 4, (uint)MsiXBar);
        Pc.WriteConfig(Slot, 0, PciRegisters.Command, 2, (uint)(PciCommand.MemorySpace | PciCommand.BusMaster));
    }

    public PciMachine Pc { get; } = new();
    public GuestMemory Memory { get; }
    public VirtioDevice Device { get; }
    public VirtioPciTransport Transport { get; }

    public static GuestMemory NewMemory()
    {
        var memory = new GuestMemory();
        memory.AddRam(0, RamSize, "ram");
        memory.AddRom(RomBase, RomSize, "canary");
        memory.Load(RomBase, Canary);
        return memory;
    }

    public static byte[] Canary { get; } = [.. Enumerable.Range(0, RomSize).Select(i => (byte)(i * 7 + 3))];

    public bool CanaryIntact => Memory.GetReadOnlySpan(RomBase, RomSize).SequenceEqual(Canary);

    public ulong Read(int offset, int size) => Pc.MmioRead(StructureBar + (ulong)offset, size);

    public void Write(int offset, int size, ulong value) => Pc.MmioWrite(StructureBar + (ulong)offset, size, value);

    public VirtioDeviceStatus Status => (VirtioDeviceStatus)Read(C.DeviceStatus, 1);

    public void SetStatus(VirtioDeviceStatus status) => Write(C.DeviceStatus, 1, (byte)status);

    public ulong DeviceFeatures()
    {
        Write(C.DeviceFeatureSelect, 4, 0);
        ulong low = Read(C.DeviceFeature, 4);
        Write(C.DeviceFeatureSelect, 4, 1);
        return low | Read(C.DeviceFeature, 4) << 32;
    }

    public void WriteDriverFeatures(ulong features)
    {
        Write(C.DriverFeatureSelect, 4, 0);
        Write(C.DriverFeature, 4, (uint)features);
        Write(C.DriverFeatureSelect, 4, 1);
        Write(C.DriverFeature, 4, (uint)(features >> 32));
    }

    /// <summary>3.1.1 steps 1-6; returns whether the device kept FEATURES_OK.</summary>
    public bool Negotiate(ulong features)
    {
        SetStatus(VirtioDeviceStatus.None);
        SetStatus(VirtioDeviceStatus.Acknowledge);
        SetStatus(VirtioDeviceStatus.Acknowledge | VirtioDeviceStatus.Driver);
        WriteDriverFeatures(features);
        SetStatus(VirtioDeviceStatus.Acknowledge | VirtioDeviceStatus.Driver | VirtioDeviceStatus.FeaturesOk);
        return (Status & VirtioDeviceStatus.FeaturesOk) != 0;
    }

    public void SetupQueue(int queue, SplitRingDriver ring, ushort vector = VirtQueue.NoVector)
    {
        Write(C.QueueSelect, 2, (ushort)queue);
        Write(C.QueueSize, 2, ring.Size);
        Write(C.QueueMsixVector, 2, vector);
        // 64-bit fields in two halves, as Linux's vp_iowrite64_twopart writes them.
        Write(C.QueueDesc, 4, (uint)ring.DescriptorTable);
        Write(C.QueueDesc + 4, 4, ring.DescriptorTable >> 32);
        Write(C.QueueDriver, 4, (uint)ring.DriverArea);
        Write(C.QueueDriver + 4, 4, ring.DriverArea >> 32);
        Write(C.QueueDevice, 4, (uint)ring.DeviceArea);
        Write(C.QueueDevice + 4, 4, ring.DeviceArea >> 32);
        Write(C.QueueEnable, 2, 1);
    }

    public void DriverOk() =>
        SetStatus(VirtioDeviceStatus.Acknowledge | VirtioDeviceStatus.Driver | VirtioDeviceStatus.FeaturesOk |
                  VirtioDeviceStatus.DriverOk);

    /// <summary>Negotiates <paramref name="features"/>, sets up one ring per queue (64 KiB apart from 1 MiB) and starts.</summary>
    public SplitRingDriver[] Start(ulong features = FullFeatures, ushort size = 16)
    {
        Assert.True(Negotiate(features));
        var rings = new SplitRingDriver[Device.Queues.Count];
        for (int q = 0; q < rings.Length; q++)
        {
            rings[q] = new SplitRingDriver(Memory, 0x10_0000 + 0x1_0000UL * (uint)q, size);
            SetupQueue(q, rings[q]);
        }
        DriverOk();
        Assert.Equal(VirtioDeviceStatus.DriverOk, Status & (VirtioDeviceStatus.DriverOk | VirtioDeviceStatus.DeviceNeedsReset));
        return rings;
    }

    public void Notify(int queue) => Write((int)VirtioPciLayout.NotifyOffset + 4 * queue, 2, (ushort)queue);

    public byte ReadIsr() => (byte)Read((int)VirtioPciLayout.IsrOffset, 1);

    public ulong ReadDeviceConfig(int offset, int size) => Read((int)VirtioPciLayout.DeviceConfigOffset + offset, size);

    /// <summary>Waits for a device's I/O thread; fails the test after 10 s.</summary>
    public static void WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for the device");
            Thread.Sleep(1);
        }
    }

    public void Dispose()
    {
        Device.Dispose();
        Memory.Dispose();
    }
}
