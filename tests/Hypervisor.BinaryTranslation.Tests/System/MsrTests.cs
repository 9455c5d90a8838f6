using Hypervisor.BinaryTranslation.State;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>RDMSR/WRMSR (Intel SDM Vol. 2B; Vol. 4, Table 2-2; Vol. 3, 13.11-13.12 for PAT and the MTRRs).</summary>
public class MsrTests
{
    private static void Write(Assembler a, uint msr, ulong value)
    {
        a.mov(ecx, msr);
        a.mov(eax, (uint)value);
        a.mov(edx, (uint)(value >> 32));
        a.wrmsr();
    }

    /// <summary>RDMSR into RBX (the composed 64-bit value).</summary>
    private static void Read(Assembler a, uint msr)
    {
        a.mov(ecx, msr);
        a.rdmsr();
        a.shl(rdx, 32);
        a.or(rax, rdx);
        a.mov(rbx, rax);
    }

    private static ulong RoundTrip(uint msr, ulong value, TestMachine? machine = null)
    {
        using var own = machine == null ? new TestMachine() : null;
        var m = machine ?? own!;
        m.Load(a =>
        {
            Write(a, msr, value);
            Read(a, msr);
        });
        Expect.Halts(m);
        return m.Cpu.Gpr(3);
    }

    private static void WriteFaults(uint msr, ulong value)
    {
        using var m = new TestMachine();
        m.Load(a => Write(a, msr, value));
        Expect.Gp(m);
    }

    [Theory]
    [InlineData(MsrIndex.Star, 0x0023_0010_0000_0000UL)]
    [InlineData(MsrIndex.Lstar, 0xFFFF_FFFF_8100_0000UL)]
    [InlineData(MsrIndex.Cstar, 0xFFFF_FFFF_8100_1000UL)]
    [InlineData(MsrIndex.Sfmask, 0x4_7700UL)]
    [InlineData(MsrIndex.KernelGsBase, 0xFFFF_8880_0000_0000UL)]
    [InlineData(MsrIndex.SysenterCs, 0x10UL)]
    [InlineData(MsrIndex.SysenterEsp, 0xFFFF_FE00_0000_1000UL)]
    [InlineData(MsrIndex.SysenterEip, 0xFFFF_FFFF_8100_2000UL)]
    [InlineData(MsrIndex.TscAux, 3UL)]
    [InlineData(MsrIndex.Pat, 0x0007_0106_0007_0406UL)]
    [InlineData(MsrIndex.MtrrDefType, 0x806UL)]
    [InlineData(MsrIndex.MtrrPhysBase0 + 2, 0x80_0000_0006UL)]
    [InlineData(MsrIndex.MtrrPhysBase0 + 3, 0xFF_C000_0800UL)]
    [InlineData(MsrIndex.MtrrFix4KC0000, 0x0505_0505_0000_0000UL)]
    [InlineData(MsrIndex.McgStatus, 0UL)]
    public void MsrsHoldWhatIsWritten(uint msr, ulong value) => Assert.Equal(value, RoundTrip(msr, value));

    [Theory]
    [InlineData(MsrIndex.Lstar, 0x0000_8000_0000_0000UL)] // not canonical
    [InlineData(MsrIndex.KernelGsBase, 0x0001_0000_0000_0000UL)]
    [InlineData(MsrIndex.FsBase, 0x8000_0000_0000_0000UL)]
    [InlineData(MsrIndex.SysenterEip, 0x0000_8000_0000_0000UL)]
    [InlineData(MsrIndex.Sfmask, 1UL << 32)] // 63:32 reserved
    [InlineData(MsrIndex.TscAux, 1UL << 32)]
    [InlineData(MsrIndex.Efer, 1UL << 1)] // reserved EFER bit
    [InlineData(MsrIndex.Efer, 1UL << 12)] // SVME: not an Intel feature
    [InlineData(MsrIndex.Pat, 0x0007_0406_0007_0402UL)] // type 2 is reserved
    [InlineData(MsrIndex.MtrrDefType, 0x807UL)] // UC- is a PAT type only
    [InlineData(MsrIndex.MtrrDefType, 0x1006UL)] // bit 12 reserved
    [InlineData(MsrIndex.MtrrPhysBase0, 0x100_0000_0006UL)] // above MAXPHYADDR
    [InlineData(MsrIndex.MtrrPhysBase0 + 1, 0x400UL)] // mask bits 10:0 reserved
    [InlineData(MsrIndex.MtrrFix64K00000, 0x0303_0303_0303_0303UL)]
    [InlineData(MsrIndex.MtrrCap, 0x508UL)] // read-only
    [InlineData(MsrIndex.FeatureControl, 5UL)] // locked
    [InlineData(MsrIndex.PlatformId, 0UL)]
    [InlineData(MsrIndex.McgCap, 0UL)]
    [InlineData(MsrIndex.ArchCapabilities, 0UL)]
    [InlineData(MsrIndex.McgStatus, 8UL)]
    [InlineData(MsrIndex.DebugCtl, 1UL)]
    [InlineData(MsrIndex.MiscEnable, 1UL << 18)] // MONITOR enable: MONITOR is not advertised
    [InlineData(MsrIndex.ApicBase, 0xFEE0_0900UL)] // no local APIC
    [InlineData(MsrIndex.TscDeadline, 1UL)]
    [InlineData(0x12345u, 0UL)] // no such MSR
    [InlineData(MsrIndex.TscAdjust, 0UL)] // not advertised
    public void InvalidWritesRaiseGp(uint msr, ulong value) => WriteFaults(msr, value);

    [Theory]
    [InlineData(0x12345u)]
    [InlineData(MsrIndex.ApicBase)]
    [InlineData(MsrIndex.TscAdjust)]
    [InlineData(0x48u)] // IA32_SPEC_CTRL: not advertised
    [InlineData(0x140u)] // MISC_FEATURES_ENABLES
    public void UnknownMsrsRaiseGpOnRead(uint msr)
    {
        using var m = new TestMachine();
        m.Load(a => Read(a, msr));
        Expect.Gp(m);
    }

    [Fact]
    public void MsrsNeedCpl0()
    {
        using var m = new TestMachine(cpl: 3);
        m.Load(a => Read(a, MsrIndex.Efer));
        Expect.Gp(m);
    }

    [Theory]
    [InlineData(MsrIndex.Pat, MsrMemoryDefaults.Pat)]
    [InlineData(MsrIndex.MtrrCap, 0x508UL)]
    [InlineData(MsrIndex.MtrrDefType, 0xC06UL)]
    [InlineData(MsrIndex.MtrrFix64K00000, 0x0606_0606_0606_0606UL)]
    [InlineData(MsrIndex.MtrrFix16KA0000, 0UL)]
    [InlineData(MsrIndex.MtrrPhysBase0 + 1, 0UL)]
    [InlineData(MsrIndex.FeatureControl, 1UL)]
    [InlineData(MsrIndex.McgCap, 0UL)]
    [InlineData(MsrIndex.BiosSignId, 1UL << 32)]
    [InlineData(MsrIndex.PlatformId, 0UL)]
    [InlineData(MsrIndex.MiscEnable, 0x1801UL)]
    [InlineData(MsrIndex.DebugCtl, 0UL)]
    public void RegistersStartAsFirmwareLeavesThem(uint msr, ulong expected)
    {
        using var m = new TestMachine();
        m.Load(a => Read(a, msr));
        Expect.Halts(m);
        Assert.Equal(expected, m.Cpu.Gpr(3));
    }

    private static class MsrMemoryDefaults
    {
        public const ulong Pat = 0x0007_0406_0007_0406;
    }

    [Fact]
    public void EferLmaIsReadOnlyAndNxeIsWritable()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            Write(a, MsrIndex.Efer, 0x100 | 0x800 | 1); // LMA written as 0
            Read(a, MsrIndex.Efer);
        });
        Expect.Halts(m);
        Assert.Equal(0xD01UL, m.Cpu.Gpr(3));
    }

    [Fact]
    public void SegmentBaseMsrsMoveFsAndGs()
    {
        using var m = new TestMachine();
        m.Memory.Write(0x6008UL, 0xAAUL);
        m.Memory.Write(0x7010UL, 0xBBUL);
        m.Load(a =>
        {
            Write(a, MsrIndex.FsBase, 0x6000);
            Write(a, MsrIndex.GsBase, 0x7000);
            a.mov(rsi, __qword_ptr.fs[0x8]);
            a.mov(rdi, __qword_ptr.gs[0x10]);
            Read(a, MsrIndex.GsBase);
        });
        Expect.Halts(m);
        Assert.Equal(0xAAUL, m.Cpu.Gpr(6));
        Assert.Equal(0xBBUL, m.Cpu.Gpr(7));
        Assert.Equal(0x7000UL, m.Cpu.Gpr(3));
        Assert.Equal(0x6000UL, m.Cpu.Save().Fs.Base);
    }

    [Fact]
    public void WritingTheTscSetsTheCounter()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            Write(a, MsrIndex.Tsc, 1UL << 40);
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(rbx, rax);
        });
        Expect.Halts(m);
        ulong tsc = m.Cpu.Gpr(3);
        Assert.InRange(tsc, 1UL << 40, (1UL << 40) + m.Cpu.TscFrequency);
    }

    [Fact]
    public void RdtscpReturnsTscAux()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            Write(a, MsrIndex.TscAux, 7);
            a.rdtscp();
        });
        Expect.Halts(m);
        Assert.Equal(7UL, m.Cpu.Gpr(1));
    }

    [Fact]
    public void ApicMsrsGoToTheLocalApic()
    {
        using var m = new TestMachine();
        var apic = new FakeLocalApic();
        m.Cpu.LocalApic = apic;
        m.Load(a =>
        {
            Write(a, MsrIndex.ApicBase, 0xFED0_0800);
            Write(a, MsrIndex.TscDeadline, 0x1234_5678_9000);
            Read(a, MsrIndex.ApicBase);
            a.mov(rsi, rbx);
            Read(a, MsrIndex.TscDeadline);
            Write(a, MsrIndex.ApicBase, 0xFEE0_0801); // reserved bit 0
        });
        Expect.Gp(m);
        Assert.Equal(0xFED0_0800UL, m.Cpu.Gpr(6));
        Assert.Equal(0x1234_5678_9000UL, m.Cpu.Gpr(3));
        Assert.Equal(0x1234_5678_9000UL, apic.TscDeadline);
        Assert.Equal(1, apic.ApicBaseWrites);
    }

    [Fact]
    public void MiscEnableKeepsReadOnlyBitsAndLimitCpuidCapsTheBasicLeaves()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            Write(a, MsrIndex.MiscEnable, 1UL << 22); // fast strings off, limit CPUID on, RO bits written as 0
            Read(a, MsrIndex.MiscEnable);
            a.mov(rsi, rbx);
            a.xor(eax, eax);
            a.cpuid();
        });
        Expect.Halts(m);
        Assert.Equal(1UL << 22 | 0x1800, m.Cpu.Gpr(6));
        Assert.Equal(2UL, m.Cpu.Gpr(0));
    }

    [Fact]
    public void MsrValuesTravelWithTheState()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            Write(a, MsrIndex.Lstar, 0xFFFF_FFFF_8123_4560);
            Write(a, MsrIndex.Pat, 0x0007_0406_0007_0106);
        });
        Expect.Halts(m);
        var s = m.Cpu.Save();
        Assert.Equal(0xFFFF_FFFF_8123_4560UL, s.Msrs[MsrIndex.Lstar]);
        using var other = new TestMachine();
        other.Cpu.Load(s);
        other.Load(a => Read(a, MsrIndex.Pat));
        other.Cpu.Rip = TestMachine.CodeBase;
        Expect.Halts(other);
        Assert.Equal(0x0007_0406_0007_0106UL, other.Cpu.Gpr(3));
    }
}
