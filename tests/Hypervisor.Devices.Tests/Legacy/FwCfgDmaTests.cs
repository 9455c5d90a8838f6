using System.Buffers.Binary;
using System.Text;
using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Devices.Tests.Legacy;

/// <summary>The DMA interface as docs/specs/fw_cfg.rst defines it and SeaBIOS's qemu_cfg_dma_transfer uses it.</summary>
public sealed class FwCfgDmaTests : IDisposable
{
    private const ulong Descriptor = 0x1000, Buffer = 0x2000;
    private readonly PortIoBus _bus = new();
    private readonly GuestMemory _memory = GuestMemory.CreatePc(2UL << 20);
    private readonly FwCfg _fwCfg;

    public FwCfgDmaTests()
    {
        _fwCfg = new FwCfg(2UL << 20, 2, _memory);
        _fwCfg.RegisterPorts(_bus);
    }

    public void Dispose() => _memory.Dispose();

    /// <summary>Writes the descriptor, then its address as SeaBIOS does: BE halves, high then low.</summary>
    private uint Transfer(uint control, uint length, ulong address, ulong descriptor = Descriptor)
    {
        if (_memory.IsRam(descriptor, 16))
        {
            var access = new byte[16];
            BinaryPrimitives.WriteUInt32BigEndian(access, control);
            BinaryPrimitives.WriteUInt32BigEndian(access.AsSpan(4), length);
            BinaryPrimitives.WriteUInt64BigEndian(access.AsSpan(8), address);
            _memory.Write(descriptor, access);
        }
        _bus.Out32(FwCfg.DmaAddressHighPort, BinaryPrimitives.ReverseEndianness((uint)(descriptor >> 32)));
        _bus.Out32(FwCfg.DmaAddressLowPort, BinaryPrimitives.ReverseEndianness((uint)descriptor));
        return _memory.IsRam(descriptor, 4) ? BinaryPrimitives.ReadUInt32BigEndian(_memory.GetReadOnlySpan(descriptor, 4)) : 0xFFFF_FFFF;
    }

    private static uint Select(ushort key) => (uint)key << 16 | FwCfg.DmaControl.Select;

    [Fact]
    public void IdAdvertisesDmaAndTheAddressRegisterReadsTheSignature()
    {
        _bus.Out16(FwCfg.SelectorPort, FwCfg.Keys.Id);
        Assert.Equal(3, _bus.In8(FwCfg.DataPort));
        Assert.Equal(BinaryPrimitives.ReverseEndianness((uint)(FwCfg.DmaSignature >> 32)), _bus.In32(FwCfg.DmaAddressHighPort));
        Assert.Equal(BinaryPrimitives.ReverseEndianness(unchecked((uint)FwCfg.DmaSignature)), _bus.In32(FwCfg.DmaAddressLowPort));
    }

    [Fact]
    public void SelectAndReadCopiesTheItemAndClearsControl()
    {
        Assert.Equal(0u, Transfer(Select(FwCfg.Keys.Signature) | FwCfg.DmaControl.Read, 4, Buffer));
        Assert.Equal("QEMU", Encoding.ASCII.GetString(_memory.GetReadOnlySpan(Buffer, 4)));
    }

    [Fact]
    public void ReadsPastTheEndAreZeroAndSkipAdvances()
    {
        _fwCfg.AddFile("etc/test", Encoding.ASCII.GetBytes("abcdef"));
        Assert.True(_fwCfg.TryGetFileSelector("etc/test", out ushort key));
        _memory.Write(Buffer, Enumerable.Repeat((byte)0xCC, 8).ToArray());
        Assert.Equal(0u, Transfer(Select(key) | FwCfg.DmaControl.Skip, 2, 0));
        Assert.Equal(0u, Transfer(FwCfg.DmaControl.Read, 8, Buffer));
        Assert.Equal("cdef\0\0\0\0"u8.ToArray(), _memory.GetReadOnlySpan(Buffer, 8).ToArray());
        // The port interface continues from the same offset: the item is exhausted.
        Assert.Equal(0, _bus.In8(FwCfg.DataPort));
    }

    [Fact]
    public void ATransferOutsideRamFailsWithTheErrorBitAndTouchesNothing()
    {
        Assert.Equal(FwCfg.DmaControl.Error, Transfer(Select(FwCfg.Keys.Signature) | FwCfg.DmaControl.Read, 16, (2UL << 20) - 8));
        Assert.Equal(FwCfg.DmaControl.Error, Transfer(FwCfg.DmaControl.Read, 0x1000, ulong.MaxValue - 0x10));
        // Nothing read: the next read still starts at the signature's first byte.
        Assert.Equal(0u, Transfer(FwCfg.DmaControl.Read, 1, Buffer));
        Assert.Equal((byte)'Q', _memory.Read<byte>(Buffer));
    }

    [Fact]
    public void WritesAreRefused()
    {
        Assert.Equal(FwCfg.DmaControl.Error, Transfer(Select(FwCfg.Keys.RamSize) | FwCfg.DmaControl.Write, 8, Buffer));
    }

    [Fact]
    public void ADescriptorOutsideRamIsIgnored()
    {
        Assert.Equal(0xFFFF_FFFFu, Transfer(FwCfg.DmaControl.Read, 4, Buffer, descriptor: 0xFEC0_0000));
        Assert.Equal(0xFFFF_FFFFu, Transfer(FwCfg.DmaControl.Read, 4, Buffer, descriptor: 0x1_0000_0000));
    }
}
