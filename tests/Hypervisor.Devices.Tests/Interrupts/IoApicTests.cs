using Hypervisor.Devices.Interrupts;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Interrupts;

public class IoApicTests
{
    private const ulong Base = IoApic.DefaultBaseAddress;

    private readonly RecordingApicBus _bus = new();
    private readonly MmioBus _mmio = new();
    private readonly IoApic _ioApic;

    public IoApicTests()
    {
        _ioApic = new IoApic(_bus, id: 3);
        _mmio.Register(Base, IoApic.MmioSize, _ioApic, "ioapic");
    }

    private void Select(byte index) => Write32(Base + IoApic.IoRegSel, index);

    private uint ReadReg(byte index)
    {
        Select(index);
        return Read32(Base + IoApic.IoWin);
    }

    private void WriteReg(byte index, uint value)
    {
        Select(index);
        Write32(Base + IoApic.IoWin, value);
    }

    private void Program(int pin, ulong entry)
    {
        WriteReg((byte)(0x11 + 2 * pin), (uint)(entry >> 32));
        WriteReg((byte)(0x10 + 2 * pin), (uint)entry);
    }

    private ulong ReadEntry(int pin) => ReadReg((byte)(0x10 + 2 * pin)) | (ulong)ReadReg((byte)(0x11 + 2 * pin)) << 32;

    private void Pulse(int pin)
    {
        _ioApic.SetIrq(pin, true);
        _ioApic.SetIrq(pin, false);
    }

    private uint Read32(ulong address)
    {
        Span<byte> data = stackalloc byte[4];
        _mmio.Read(address, data);
        return BitConverter.ToUInt32(data);
    }

    private void Write32(ulong address, uint value) => _mmio.Write(address, BitConverter.GetBytes(value));

    [Fact]
    public void RegisterWindow_SelectsIdVersionAndArbitration()
    {
        Select(0x01);
        Assert.Equal(0x01u, Read32(Base + IoApic.IoRegSel));
        Assert.Equal(0x0017_0011u, Read32(Base + IoApic.IoWin)); // version 0x11, max redirection entry 23
        Assert.Equal(0x0300_0000u, ReadReg(IoApic.IdRegister));

        WriteReg(IoApic.IdRegister, 0xFA00_0000); // only bits 27:24 exist
        Assert.Equal(0x0A00_0000u, ReadReg(IoApic.IdRegister));
        Assert.Equal(0x0A00_0000u, ReadReg(IoApic.ArbitrationRegister));

        WriteReg(IoApic.VersionRegister, 0);
        Assert.Equal(IoApic.VersionValue, ReadReg(IoApic.VersionRegister));
        Assert.Equal(0u, ReadReg(0x03)); // unimplemented index
        Assert.Equal(0u, ReadReg(0x40)); // past the 24 entries
    }

    [Fact]
    public void RedirectionEntries_ResetMaskedAndKeepOnlyWritableBits()
    {
        for (int pin = 0; pin < IoApic.PinCount; pin++) Assert.Equal(0x1_0000UL, ReadEntry(pin));

        // Everything set: delivery status (12), remote IRR (14) and reserved bits 55:17 must not stick.
        Program(5, 0xFFFF_FFFF_FFFF_FFFFUL);
        Assert.Equal(0xFF00_0000_0001_AFFFUL, ReadEntry(5));
        Program(5, 0x0200_0000_0000_0935UL);
        Assert.Equal(0x0200_0000_0000_0935UL, ReadEntry(5));
        Assert.Equal(0x1_0000UL, ReadEntry(4)); // neighbours untouched
        Assert.Equal(0x1_0000UL, ReadEntry(6));
    }

    [Fact]
    public void NarrowWindowWrite_ChangesOnlyItsBytes()
    {
        Program(1, 0x0000_0000_0001_0031UL);
        Select(0x12);
        _mmio.Write(Base + IoApic.IoWin, [0x41]); // low byte of entry 1: the vector
        Assert.Equal(0x0001_0041UL, ReadEntry(1));
        Span<byte> b = stackalloc byte[1];
        Select(0x12);
        _mmio.Read(Base + IoApic.IoWin + 2, b);
        Assert.Equal(0x01, b[0]); // mask bit, in byte 2
    }

    [Fact]
    public void EdgeEntry_SendsOnRisingEdgeOnly()
    {
        Program(4, 0x0100_0000_0000_0834UL); // vector 0x34, fixed, logical, destination 0x01
        _ioApic.SetIrq(4, true);
        var m = Assert.Single(_bus.Messages);
        Assert.Equal(new ApicMessage(0x34, ApicDeliveryMode.Fixed, LogicalDestination: true, Destination: 1), m);

        _ioApic.SetIrq(4, true); // still high: no edge
        Assert.Single(_bus.Messages);
        _ioApic.SetIrq(4, false);
        Assert.Single(_bus.Messages);
        _ioApic.SetIrq(4, true);
        Assert.Equal(2, _bus.Messages.Count);
        Assert.Equal(0UL, ReadEntry(4) & (1UL << 14)); // edge entries never set remote IRR
    }

    [Fact]
    public void MaskedEdge_IsLost()
    {
        Program(3, 0x0001_0033UL);
        _ioApic.SetIrq(3, true);
        _ioApic.SetIrq(3, false);
        Program(3, 0x0000_0033UL);
        Assert.Empty(_bus.Messages);
        Pulse(3);
        Assert.Single(_bus.Messages);
    }

    [Fact]
    public void LevelEntry_SetsRemoteIrrAndRedeliversAfterEoiWhileAsserted()
    {
        Program(17, 0x0000_0000_0000_A061UL); // vector 0x61, level, active low, physical destination 0
        _ioApic.SetIrq(17, true);
        var m = Assert.Single(_bus.Messages);
        Assert.True(m.LevelTriggered);
        Assert.NotEqual(0UL, ReadEntry(17) & (1UL << 14));

        _ioApic.SetIrq(17, true); // remote IRR holds further sends
        Assert.Single(_bus.Messages);

        _ioApic.EndOfInterrupt(0x62); // another vector: no effect
        Assert.NotEqual(0UL, ReadEntry(17) & (1UL << 14));

        _ioApic.EndOfInterrupt(0x61); // still asserted: sent again
        Assert.Equal(2, _bus.Messages.Count);
        Assert.NotEqual(0UL, ReadEntry(17) & (1UL << 14));

        _ioApic.SetIrq(17, false);
        _ioApic.EndOfInterrupt(0x61);
        Assert.Equal(2, _bus.Messages.Count);
        Assert.Equal(0UL, ReadEntry(17) & (1UL << 14));
    }

    [Fact]
    public void LevelEntry_NobodyAccepting_LeavesRemoteIrrClear()
    {
        _bus.Acceptors = 0;
        Program(9, 0x0000_8039UL);
        _ioApic.SetIrq(9, true);
        Assert.Single(_bus.Messages);
        Assert.Equal(0UL, ReadEntry(9) & (1UL << 14));
    }

    [Fact]
    public void MaskedLevel_IsDeliveredWhenUnmaskedWhileStillAsserted()
    {
        Program(10, 0x0001_803AUL);
        _ioApic.SetIrq(10, true);
        Assert.Empty(_bus.Messages);
        Program(10, 0x0000_803AUL);
        Assert.Single(_bus.Messages);

        // Masking after acceptance does not recall it, and EOI while masked sends nothing.
        Program(10, 0x0001_803AUL);
        _ioApic.EndOfInterrupt(0x3A);
        Assert.Single(_bus.Messages);
        Assert.Equal(0UL, ReadEntry(10) & (1UL << 14));
    }

    [Fact]
    public void SwitchingToEdge_ClearsStuckRemoteIrr()
    {
        Program(11, 0x0000_803BUL);
        _ioApic.SetIrq(11, true);
        Assert.NotEqual(0UL, ReadEntry(11) & (1UL << 14));
        Program(11, 0x0001_003BUL); // mask + edge, as Linux's ack_apic_level workaround does
        Assert.Equal(0UL, ReadEntry(11) & (1UL << 14));
        Program(11, 0x0000_803BUL); // back to level, pin still asserted: sent again
        Assert.Equal(2, _bus.Messages.Count);
    }

    [Fact]
    public void DeliveryModesAndDestinationArePassedThrough()
    {
        Program(2, 0x0700_0000_0000_0400UL); // NMI, physical 7
        Program(6, 0xFF00_0000_0000_0D00UL); // INIT, logical broadcast
        Pulse(2);
        Pulse(6);
        Assert.Equal(ApicDeliveryMode.Nmi, _bus.Messages[0].DeliveryMode);
        Assert.Equal(7, _bus.Messages[0].Destination);
        Assert.False(_bus.Messages[0].LogicalDestination);
        Assert.Equal(ApicDeliveryMode.Init, _bus.Messages[1].DeliveryMode);
        Assert.Equal(0xFF, _bus.Messages[1].Destination);
        Assert.True(_bus.Messages[1].LogicalDestination);
    }

    [Fact]
    public void Reset_MasksEverythingAndRestoresId()
    {
        Program(0, 0x20UL);
        WriteReg(IoApic.IdRegister, 0x0500_0000);
        _ioApic.Reset();
        Assert.Equal(0x1_0000UL, ReadEntry(0));
        Assert.Equal(0x0300_0000u, ReadReg(IoApic.IdRegister));
    }

    [Fact]
    public void SetIrq_RejectsPinsBeyond23()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ioApic.SetIrq(24, true));
        Assert.Throws<ArgumentOutOfRangeException>(() => _ioApic.SetIrq(-1, true));
    }
}
