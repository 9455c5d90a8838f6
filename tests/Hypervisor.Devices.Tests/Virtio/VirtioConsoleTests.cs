using Hypervisor.Devices.Console;
using Hypervisor.Devices.Virtio.Console;

namespace Hypervisor.Devices.Tests.Virtio;

public class VirtioConsoleTests
{
    private const ulong Buffer = 0x20_0000;

    [Fact]
    public void GuestOutputReachesTheBackend()
    {
        var backend = new InMemoryCharacterBackend();
        using var h = new VirtioPciHarness(memory => new VirtioConsole(memory, backend));
        var rings = h.Start();
        h.Memory.Write(Buffer, "hello, "u8);
        h.Memory.Write(Buffer + 0x100, "host\n"u8);
        rings[VirtioConsole.TransmitQueue].AddChain(0, (Buffer, 7, false), (Buffer + 0x100, 5, false));
        h.Notify(VirtioConsole.TransmitQueue);
        Assert.Equal("hello, host\n", backend.OutputText);
        Assert.Equal((0u, 0u), Assert.Single(rings[VirtioConsole.TransmitQueue].TakeUsed()));
    }

    [Fact]
    public void HostInputWaitsForReceiveBuffersAndFillsThem()
    {
        var backend = new InMemoryCharacterBackend();
        using var h = new VirtioPciHarness(memory => new VirtioConsole(memory, backend));
        var rings = h.Start();
        var rx = rings[VirtioConsole.ReceiveQueue];
        backend.Send("typed early");
        Assert.Empty(rx.TakeUsed());

        rx.AddChain(0, (Buffer, 5, true));
        rx.AddChain(1, (Buffer + 0x100, 64, true));
        h.Notify(VirtioConsole.ReceiveQueue);
        Assert.Equal([(0u, 5u), (1u, 6u)], rx.TakeUsed());
        Assert.Equal("typed"u8, h.Memory.GetReadOnlySpan(Buffer, 5));
        Assert.Equal(" early"u8, h.Memory.GetReadOnlySpan(Buffer + 0x100, 6));

        rx.AddChain(2, (Buffer + 0x200, 64, true));
        h.Notify(VirtioConsole.ReceiveQueue); // nothing to deliver: the buffer stays posted
        Assert.Empty(rx.TakeUsed());
        backend.Send("x");
        Assert.Equal((2u, 1u), Assert.Single(rx.TakeUsed()));
        Assert.Equal((byte)'x', h.Memory.Read<byte>(Buffer + 0x200));
    }

    [Fact]
    public void InputBeyondTheBoundIsDroppedAndCounted()
    {
        var backend = new InMemoryCharacterBackend();
        using var h = new VirtioPciHarness(memory => new VirtioConsole(memory, backend));
        var console = (VirtioConsole)h.Device;
        backend.Send(new byte[VirtioConsole.MaxPendingInput + 10]);
        Assert.Equal(10, console.DroppedInputBytes);
    }

    [Fact]
    public void FailingBackendStopsTheQueueInsteadOfThrowingIntoTheVcpu()
    {
        using var h = new VirtioPciHarness(memory => new VirtioConsole(memory, new BrokenBackend()));
        var rings = h.Start();
        h.Memory.Write(Buffer, "x"u8);
        rings[VirtioConsole.TransmitQueue].AddChain(0, (Buffer, 1, false));
        h.Notify(VirtioConsole.TransmitQueue);
        Assert.True((h.Status & Hypervisor.Devices.Virtio.VirtioDeviceStatus.DeviceNeedsReset) != 0);
        Assert.Contains("host error", h.Device.LastError);
    }

    private sealed class BrokenBackend : ICharacterBackend
    {
        public void Write(ReadOnlySpan<byte> data) => throw new IOException("broken pipe");

        public void SetReceiver(CharacterReceiver? receiver)
        {
        }
    }
}
