using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Io;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>A local APIC that records what the CPU core does to it.</summary>
public sealed class FakeLocalApic : ILocalApicAccess
{
    public ulong ApicBase { get; private set; } = 0xFEE0_0900;
    public int ApicBaseWrites { get; private set; }

    public bool SetApicBase(ulong value)
    {
        // Reserved: bits 7:0, 9, 10 (x2APIC, not advertised), and 63:40 (MAXPHYADDR 40).
        if ((value & (0xFFUL | 1UL << 9 | 1UL << 10 | ~((1UL << 40) - 1))) != 0) return false;
        ApicBase = value;
        ApicBaseWrites++;
        return true;
    }

    public ulong TscDeadline { get; set; }
    public ulong Cr8 { get; set; }
    public bool TryRead(ulong physical, Span<byte> data) => false;
    public bool TryWrite(ulong physical, ReadOnlySpan<byte> data) => false;
}

/// <summary>Ports answer their number's low byte repeated; writes are logged.</summary>
public sealed class RecordingIo : IIoHandler
{
    public List<(ushort Port, byte[] Data)> Writes { get; } = new();
    public List<(ushort Port, int Size)> Reads { get; } = new();

    public void PortRead(ushort port, Span<byte> data)
    {
        Reads.Add((port, data.Length));
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(port + i);
    }

    public void PortWrite(ushort port, ReadOnlySpan<byte> data) => Writes.Add((port, data.ToArray()));
    public void MmioRead(ulong address, Span<byte> data) => data.Fill(0xFF);
    public void MmioWrite(ulong address, ReadOnlySpan<byte> data) { }
}

public static class Expect
{
    public static void Fault(TestMachine m, byte vector, uint? errorCode = null)
    {
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(vector, m.Cpu.Exception.Vector);
        if (errorCode is { } e)
        {
            Assert.True(m.Cpu.Exception.HasErrorCode);
            Assert.Equal(e, m.Cpu.Exception.ErrorCode);
        }
    }

    public static void Gp(TestMachine m) => Fault(m, Vectors.GeneralProtection, 0);

    public static void Halts(TestMachine m) => Assert.Equal(RunExit.Halted, m.Run());
}
