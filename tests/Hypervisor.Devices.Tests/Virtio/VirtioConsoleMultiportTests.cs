using System.Buffers.Binary;
using System.Text;
using Hypervisor.Devices.Console;
using Hypervisor.Devices.Virtio.Console;
using static Hypervisor.Devices.Virtio.Console.VirtioConsoleControl;

namespace Hypervisor.Devices.Tests.Virtio;

public class VirtioConsoleMultiportTests
{
    private const ulong ControlIn = 0x20_0000;   // device -> driver buffers, 0x100 apart
    private const ulong ControlOut = 0x21_0000;  // driver -> device messages, 0x10 apart
    private const ulong PortBuffers = 0x22_0000;

    private sealed class Rig : IDisposable
    {
        public readonly InMemoryCharacterBackend Port0 = new();
        public readonly InMemoryCharacterBackend Port1 = new();
        public readonly VirtioPciHarness H;
        public readonly SplitRingDriver[] Rings;
        private int _controlIn, _controlOut;

        public Rig(bool multiport = true)
        {
            H = new VirtioPciHarness(memory => new VirtioConsole(memory, Port0, [new VirtioConsolePortSpec("org.hv.test", Port1)]));
            Rings = H.Start(VirtioPciHarness.FullFeatures | (multiport ? FeatureMultiport : 0));
            for (int i = 0; i < 8; i++) PostControlBuffer();
        }

        public VirtioConsole Console => (VirtioConsole)H.Device;

        public void PostControlBuffer()
        {
            int i = _controlIn++;
            Rings[ControlReceiveQueue].AddChain(i % 16, (ControlIn + 0x100UL * (uint)i, 0x100, true));
        }

        public void SendControl(uint id, ushort ev, ushort value)
        {
            int i = _controlOut++;
            ulong at = ControlOut + 0x10UL * (uint)i;
            Span<byte> m = stackalloc byte[8];
            BinaryPrimitives.WriteUInt32LittleEndian(m, id);
            BinaryPrimitives.WriteUInt16LittleEndian(m[4..], ev);
            BinaryPrimitives.WriteUInt16LittleEndian(m[6..], value);
            H.Memory.Write(at, m);
            Rings[ControlTransmitQueue].AddChain(i % 16, (at, 8, false));
            H.Notify(ControlTransmitQueue);
        }

        /// <summary>The control messages the device sent since the last call: (id, event, value, name).</summary>
        public List<(uint Id, ushort Event, ushort Value, string Extra)> Received()
        {
            var list = new List<(uint, ushort, ushort, string)>();
            foreach (var (head, length) in Rings[ControlReceiveQueue].TakeUsed())
            {
                var m = H.Memory.GetReadOnlySpan(ControlIn + 0x100UL * head, (int)length);
                list.Add((BinaryPrimitives.ReadUInt32LittleEndian(m), BinaryPrimitives.ReadUInt16LittleEndian(m[4..]),
                    BinaryPrimitives.ReadUInt16LittleEndian(m[6..]), Encoding.UTF8.GetString(m[8..])));
            }
            return list;
        }

        public void Dispose() => H.Dispose();
    }

    [Fact]
    public void ConfigurationAndQueuesDescribeTwoPorts()
    {
        using var rig = new Rig();
        Assert.Equal(FeatureMultiport, rig.H.DeviceFeatures() & FeatureMultiport);
        Assert.Equal(2u, (uint)rig.H.ReadDeviceConfig(4, 4));
        Assert.Equal(6, rig.Console.Queues.Count);
    }

    [Fact]
    public void TheHandshakeAddsBothPortsNamesPortOneAndOpensThem()
    {
        using var rig = new Rig();
        rig.SendControl(0xFFFF_FFFF, DeviceReady, 1);
        Assert.Equal([(0u, DeviceAdd, (ushort)1, ""), (1u, DeviceAdd, (ushort)1, "")], rig.Received());
        rig.SendControl(0, PortReady, 1);
        Assert.Equal([(0u, ConsolePort, (ushort)1, ""), (0u, PortOpen, (ushort)1, "")], rig.Received());
        rig.SendControl(1, PortReady, 1);
        Assert.Equal([(1u, PortName, (ushort)1, "org.hv.test"), (1u, PortOpen, (ushort)1, "")], rig.Received());
        Assert.False(rig.Console.IsGuestOpen(1));
        rig.SendControl(1, PortOpen, 1);
        Assert.True(rig.Console.IsGuestOpen(1));
        rig.SendControl(1, PortOpen, 0);
        Assert.False(rig.Console.IsGuestOpen(1));
    }

    [Fact]
    public void MessagesWaitForControlBuffers()
    {
        var port0 = new InMemoryCharacterBackend();
        using var h = new VirtioPciHarness(memory => new VirtioConsole(memory, port0, [new VirtioConsolePortSpec("p", new InMemoryCharacterBackend())]));
        var rings = h.Start(VirtioPciHarness.FullFeatures | FeatureMultiport);
        h.Memory.Write(ControlOut, [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 1, 0]);
        rings[ControlTransmitQueue].AddChain(0, (ControlOut, 8, false));
        h.Notify(ControlTransmitQueue);
        Assert.Empty(rings[ControlReceiveQueue].TakeUsed());
        rings[ControlReceiveQueue].AddChain(0, (ControlIn, 0x100, true));
        h.Notify(ControlReceiveQueue);
        Assert.Equal((0u, 8u), Assert.Single(rings[ControlReceiveQueue].TakeUsed()));
        rings[ControlReceiveQueue].AddChain(1, (ControlIn + 0x100, 0x100, true));
        h.Notify(ControlReceiveQueue);
        Assert.Equal((1u, 8u), Assert.Single(rings[ControlReceiveQueue].TakeUsed()));
        Assert.Equal(1u, h.Memory.Read<uint>(ControlIn + 0x100));
    }

    [Fact]
    public void PortOneCarriesTextBothWaysApartFromPortZero()
    {
        using var rig = new Rig();
        rig.SendControl(0xFFFF_FFFF, DeviceReady, 1);
        rig.SendControl(1, PortReady, 1);
        rig.Rings[TransmitQueueOf(1)].AddChain(0, (PortBuffers, 6, false));
        rig.H.Memory.Write(PortBuffers, "guest\n"u8);
        rig.H.Notify(TransmitQueueOf(1));
        Assert.Equal("guest\n", rig.Port1.OutputText);
        Assert.Equal("", rig.Port0.OutputText);

        rig.Port1.Send("host");
        var rx = rig.Rings[ReceiveQueueOf(1)];
        rx.AddChain(0, (PortBuffers + 0x1000, 64, true));
        rig.H.Notify(ReceiveQueueOf(1));
        // Linux drops data for a port no process has open: it waits for PORT_OPEN 1.
        Assert.Empty(rx.TakeUsed());
        rig.SendControl(1, PortOpen, 1);
        Assert.Equal((0u, 4u), Assert.Single(rx.TakeUsed()));
        Assert.Equal("host"u8, rig.H.Memory.GetReadOnlySpan(PortBuffers + 0x1000, 4));
        Assert.Empty(rig.Rings[ReceiveQueue(0)].TakeUsed());
    }

    [Fact]
    public void WithoutMultiportNegotiatedOnlyPortZeroWorks()
    {
        using var rig = new Rig(multiport: false);
        rig.SendControl(0xFFFF_FFFF, DeviceReady, 1);
        Assert.Empty(rig.Received());
        rig.Rings[TransmitQueueOf(1)].AddChain(0, (PortBuffers, 6, false));
        rig.H.Memory.Write(PortBuffers, "guest\n"u8);
        rig.H.Notify(TransmitQueueOf(1));
        Assert.Equal("", rig.Port1.OutputText);
        rig.Rings[VirtioConsole.TransmitQueue].AddChain(0, (PortBuffers, 6, false));
        rig.H.Notify(VirtioConsole.TransmitQueue);
        Assert.Equal("guest\n", rig.Port0.OutputText);
    }

    [Fact]
    public void ResetForgetsOpenPortsAndQueuedMessages()
    {
        using var rig = new Rig();
        rig.SendControl(1, PortOpen, 1);
        Assert.True(rig.Console.IsGuestOpen(1));
        rig.H.SetStatus(0);
        Assert.False(rig.Console.IsGuestOpen(1));
    }

    private static int ReceiveQueue(int port) => ReceiveQueueOf(port);
}
