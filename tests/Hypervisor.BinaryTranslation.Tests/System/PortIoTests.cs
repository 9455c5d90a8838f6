using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>IN/OUT/INS/OUTS and the I/O permission check (Intel SDM Vol. 1, 19.5; Vol. 2A IN, Vol. 2B OUT).</summary>
public class PortIoTests
{
    private const ulong Tss = 0x3000;

    /// <summary>A 64-bit TSS at <see cref="Tss"/> whose bit map (at offset 0x68) forbids port 0x3F9 and 0x81 only.</summary>
    private static void InstallTss(TestMachine m, uint limit = 0x68 + 0x2000 / 8)
    {
        m.Memory.Write(Tss + 0x66, (ushort)0x68);
        m.Memory.Write(Tss + 0x68 + 0x3F9 / 8, (byte)(1 << (0x3F9 & 7)));
        m.Memory.Write(Tss + 0x68 + 0x81 / 8, (byte)(1 << (0x81 & 7)));
        m.Cpu.Architectural.Tr = new SegmentRegister { Selector = 0x40, Base = Tss, Limit = limit, Type = 11, Present = true };
    }

    [Fact]
    public void OutWritesTheAccumulatorOfEachSize()
    {
        var io = new RecordingIo();
        using var m = new TestMachine(io: io);
        m.Load(a =>
        {
            a.mov(eax, 0x1234_5678);
            a.@out(0x80, al);
            a.mov(dx, 0x3F8);
            a.@out(dx, ax);
            a.@out(dx, eax);
        });
        Expect.Halts(m);
        Assert.Equal(3, io.Writes.Count);
        Assert.Equal((ushort)0x80, io.Writes[0].Port);
        Assert.Equal(new byte[] { 0x78 }, io.Writes[0].Data);
        Assert.Equal(new byte[] { 0x78, 0x56 }, io.Writes[1].Data);
        Assert.Equal(new byte[] { 0x78, 0x56, 0x34, 0x12 }, io.Writes[2].Data);
        Assert.Equal((ushort)0x3F8, io.Writes[2].Port);
    }

    [Fact]
    public void InMergesNarrowResultsAndZeroExtendsEax()
    {
        var io = new RecordingIo();
        using var m = new TestMachine(io: io);
        m.Load(a =>
        {
            a.mov(rax, -1L);
            a.@in(al, 0x10);
            a.mov(rbx, rax);
            a.mov(rax, -1L);
            a.mov(dx, 0x20);
            a.@in(ax, dx);
            a.mov(rcx, rax);
            a.mov(rax, -1L);
            a.@in(eax, dx);
        });
        Expect.Halts(m);
        Assert.Equal(0xFFFF_FFFF_FFFF_FF10UL, m.Cpu.Gpr(3));
        Assert.Equal(0xFFFF_FFFF_FFFF_2120UL, m.Cpu.Gpr(1));
        Assert.Equal(0x2322_2120UL, m.Cpu.Gpr(0));
    }

    [Fact]
    public void CplAboveIoplConsultsTheBitmap()
    {
        var io = new RecordingIo();
        using var m = new TestMachine(cpl: 3, io: io);
        InstallTss(m);
        m.Load(a =>
        {
            a.mov(dx, 0x3F8);
            a.@out(dx, al);
            a.mov(dx, 0x3F9);
            a.@out(dx, al);
        });
        Expect.Gp(m);
        Assert.Single(io.Writes);
        Assert.Equal((ushort)0x3F8, io.Writes[0].Port);
    }

    [Fact]
    public void EveryPortOfAWideAccessIsChecked()
    {
        var io = new RecordingIo();
        using var m = new TestMachine(cpl: 3, io: io);
        InstallTss(m);
        m.Load(a =>
        {
            a.mov(dx, 0x3F6);
            a.@in(ax, dx); // 0x3F6-0x3F7: allowed
            a.mov(dx, 0x3F8);
            a.@in(ax, dx); // 0x3F8-0x3F9: 0x3F9 forbidden
        });
        Expect.Gp(m);
        Assert.Single(io.Reads);
    }

    [Fact]
    public void ABitmapBeyondTheTssLimitForbids()
    {
        var io = new RecordingIo();
        using var m = new TestMachine(cpl: 3, io: io);
        // The limit covers the bytes of ports 0-0x3FF only: the two bytes read for 0x400 cross it.
        InstallTss(m, limit: 0x68 + 0x400 / 8 - 1);
        m.Load(a =>
        {
            a.mov(dx, 0x3F0);
            a.@out(dx, al);
            a.mov(dx, 0x400);
            a.@out(dx, al);
        });
        Expect.Gp(m);
        Assert.Single(io.Writes);
    }

    [Fact]
    public void A16BitTssHasNoBitmap()
    {
        using var m = new TestMachine(cpl: 3, io: new RecordingIo());
        InstallTss(m);
        m.Cpu.Architectural.Tr.Type = 3;
        m.Load(a => a.@out(0x10, al));
        Expect.Gp(m);
    }

    [Fact]
    public void IoplThreeLetsCplThreeAccessEveryPort()
    {
        var io = new RecordingIo();
        using var m = new TestMachine(cpl: 3, io: io);
        InstallTss(m);
        m.Cpu.Rflags |= 3UL << 12;
        m.Load(a =>
        {
            a.@out(0x81, al);
            a.mov(rax, cr0); // ends the run with a #GP we expect
        });
        Expect.Gp(m);
        Assert.Single(io.Writes);
        Assert.Equal((ushort)0x81, io.Writes[0].Port);
    }

    [Fact]
    public void StringPortInstructionsAreCheckedToo()
    {
        var io = new RecordingIo();
        using var m = new TestMachine(cpl: 3, io: io);
        InstallTss(m);
        m.Load(a =>
        {
            a.mov(rdi, 0x5000);
            a.mov(dx, 0x80);
            a.insb();
            a.mov(dx, 0x81);
            a.insb();
        });
        Expect.Gp(m);
        Assert.Single(io.Reads);
        Assert.Equal(0x80, m.Memory.Read<byte>(0x5000));
        Assert.Equal(0x5001UL, m.Cpu.Gpr(7));
    }

    [Fact]
    public void RealModeAlwaysMayAccessPorts()
    {
        var io = new RecordingIo();
        using var m = new TestMachine(bits: 16, io: io);
        m.Cpu.Architectural.Tr.Type = 3;
        m.Load(a =>
        {
            a.mov(al, 0x42);
            a.@out(0x92, al);
        }, bits: 16);
        Expect.Halts(m);
        Assert.Single(io.Writes);
    }
}
