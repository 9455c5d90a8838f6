using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>MOV to/from CR0, CR2, CR3, CR4, CR8, CLTS, LMSW, SMSW (Intel SDM Vol. 2B MOV CR; Vol. 3, 2.5).</summary>
public class ControlRegisterTests
{
    private const ulong Pe = 1, Mp = 2, Em = 4, Ts = 8, Et = 0x10, Nw = 1UL << 29, Cd = 1UL << 30, Pg = 1UL << 31;

    [Fact]
    public void Cr0IgnoresReservedLowBitsAndKeepsEtSet()
    {
        using var m = new TestMachine();
        ulong before = m.Cpu.Architectural.Cr0;
        m.Load(a =>
        {
            a.mov(rax, cr0);
            a.and(rax, ~0x10);
            a.or(rax, 0x40);
            a.mov(cr0, rax);
            a.mov(rbx, cr0);
        });
        Expect.Halts(m);
        Assert.Equal(before | Et, m.Cpu.Gpr(3));
    }

    [Theory]
    [InlineData(1UL << 32)] // bits 63:32 reserved
    [InlineData(Nw)] // NW without CD
    public void InvalidCr0ValuesRaiseGpAndLeaveCr0(ulong set)
    {
        using var m = new TestMachine();
        ulong before = m.Cpu.Architectural.Cr0;
        m.Load(a =>
        {
            a.mov(rax, cr0);
            a.mov(rcx, set);
            a.or(rax, rcx);
            a.mov(cr0, rax);
        });
        Expect.Gp(m);
        Assert.Equal(before, m.Cpu.Architectural.Cr0);
    }

    [Fact]
    public void PagingWithoutProtectionRaisesGp()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, cr0);
            a.and(rax, ~1);
            a.mov(cr0, rax);
        });
        Expect.Gp(m);
    }

    [Fact]
    public void CacheDisableWithNotWriteThroughIsValid()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, cr0);
            a.mov(rcx, Cd | Nw);
            a.or(rax, rcx);
            a.mov(cr0, rax);
            a.mov(rbx, cr0);
        });
        Expect.Halts(m);
        Assert.Equal(Cd | Nw, m.Cpu.Gpr(3) & (Cd | Nw));
    }

    [Fact]
    public void ClearingPagingIn64BitModeRaisesGp()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, cr0);
            a.btr(rax, (byte)31);
            a.mov(cr0, rax);
        });
        Expect.Gp(m);
        Assert.Equal(CpuMode.Long64, m.Cpu.Mode);
    }

    [Theory]
    [InlineData(0)] // VME
    [InlineData(1)] // PVI
    [InlineData(11)] // UMIP
    [InlineData(12)] // LA57
    [InlineData(13)] // VMXE
    [InlineData(16)] // FSGSBASE
    [InlineData(17)] // PCIDE
    [InlineData(18)] // OSXSAVE
    [InlineData(20)] // SMEP
    [InlineData(21)] // SMAP
    [InlineData(40)] // beyond the architecture
    public void Cr4BitsTheCpuidModelDoesNotAdvertiseRaiseGp(int bit)
    {
        using var m = new TestMachine();
        ulong before = m.Cpu.Architectural.Cr4;
        m.Load(a =>
        {
            a.mov(rax, cr4);
            a.bts(rax, (byte)bit);
            a.mov(cr4, rax);
        });
        Expect.Gp(m);
        Assert.Equal(before, m.Cpu.Architectural.Cr4);
    }

    [Theory]
    [InlineData(2)] // TSD
    [InlineData(4)] // PSE
    [InlineData(6)] // MCE
    [InlineData(7)] // PGE
    [InlineData(8)] // PCE
    public void AdvertisedCr4BitsCanBeSet(int bit)
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, cr4);
            a.bts(rax, (byte)bit);
            a.mov(cr4, rax);
            a.mov(rbx, cr4);
        });
        Expect.Halts(m);
        Assert.NotEqual(0UL, m.Cpu.Gpr(3) & 1UL << bit);
    }

    [Fact]
    public void ClearingPaeInIa32eModeRaisesGp()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, cr4);
            a.btr(rax, (byte)5);
            a.mov(cr4, rax);
        });
        Expect.Gp(m);
    }

    [Theory]
    [InlineData(40)] // above MAXPHYADDR
    [InlineData(63)] // no PCIDs: the no-flush bit is reserved too
    public void Cr3ReservedBitsInIa32eModeRaiseGp(int bit)
    {
        using var m = new TestMachine();
        ulong before = m.Cpu.Architectural.Cr3;
        m.Load(a =>
        {
            a.mov(rax, cr3);
            a.bts(rax, (byte)bit);
            a.mov(cr3, rax);
        });
        Expect.Gp(m);
        Assert.Equal(before, m.Cpu.Architectural.Cr3);
    }

    [Fact]
    public void Cr3KeepsPwtAndPcd()
    {
        using var m = new TestMachine();
        ulong tables = m.Cpu.Architectural.Cr3;
        m.Load(a =>
        {
            a.mov(rax, cr3);
            a.or(rax, 0x18);
            a.mov(cr3, rax);
            a.mov(rbx, cr3);
        });
        Expect.Halts(m);
        Assert.Equal(tables | 0x18, m.Cpu.Gpr(3));
    }

    [Fact]
    public void Cr2HoldsAnyAddress()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0x8000_1234_5678_9ABCUL);
            a.mov(cr2, rax);
            a.mov(rbx, cr2);
        });
        Expect.Halts(m);
        Assert.Equal(0x8000_1234_5678_9ABCUL, m.Cpu.Gpr(3));
    }

    [Fact]
    public void Cr8IsTheApicTaskPriority()
    {
        using var m = new TestMachine();
        var apic = new FakeLocalApic();
        m.Cpu.LocalApic = apic;
        m.Load(a =>
        {
            a.mov(eax, 9);
            a.mov(cr8, rax);
            a.mov(rbx, cr8);
            a.mov(eax, 16);
            a.mov(cr8, rax);
        });
        Expect.Gp(m);
        Assert.Equal(9UL, m.Cpu.Gpr(3));
        Assert.Equal(9UL, apic.Cr8);
    }

    [Fact]
    public void ControlRegistersNeedCpl0()
    {
        using var m = new TestMachine(cpl: 3);
        m.Load(a => a.mov(rax, cr0));
        Expect.Gp(m);
    }

    [Theory]
    [InlineData(new byte[] { 0x0F, 0x20, 0xC8 })] // MOV RAX, CR1
    [InlineData(new byte[] { 0x0F, 0x22, 0xE8 })] // MOV CR5, RAX
    [InlineData(new byte[] { 0x44, 0x0F, 0x22, 0xC8 })] // MOV CR9, RAX
    [InlineData(new byte[] { 0xF0, 0x0F, 0x20, 0xC0 })] // LOCK MOV RAX, CR0 (AMD's CR8 alias)
    [InlineData(new byte[] { 0x44, 0x0F, 0x21, 0xC0 })] // MOV RAX, DR8
    public void RegistersTheProcessorDoesNotHaveRaiseUd(byte[] code)
    {
        using var m = new TestMachine();
        m.Memory.Load(TestMachine.CodeBase, code);
        Expect.Fault(m, Vectors.InvalidOpcode);
    }

    [Fact]
    public void CltsClearsTaskSwitched()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, cr0);
            a.or(rax, (int)Ts);
            a.mov(cr0, rax);
            a.mov(rbx, cr0);
            a.clts();
            a.mov(rcx, cr0);
        });
        Expect.Halts(m);
        Assert.Equal(Ts, m.Cpu.Gpr(3) & Ts);
        Assert.Equal(0UL, m.Cpu.Gpr(1) & Ts);
    }

    [Fact]
    public void CltsNeedsCpl0()
    {
        using var m = new TestMachine(cpl: 3);
        m.Load(a => a.clts());
        Expect.Gp(m);
    }

    [Fact]
    public void LmswLoadsMpEmTsButCannotClearPe()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 0xFFFE);
            a.lmsw(ax);
            a.mov(rbx, cr0);
        });
        Expect.Halts(m);
        Assert.Equal(Pe | Mp | Em | Ts, m.Cpu.Gpr(3) & 0xF);
        // Bits 15:4 of the source are not loaded.
        Assert.Equal(0UL, m.Cpu.Gpr(3) & 0x20);
    }

    [Fact]
    public void LmswSetsPeInRealMode()
    {
        using var m = new TestMachine(bits: 16);
        m.Load(a =>
        {
            a.mov(ax, 1);
            a.lmsw(ax);
        }, bits: 16);
        Expect.Halts(m);
        Assert.Equal(CpuMode.Protected, m.Cpu.Mode);
    }

    [Fact]
    public void SmswStoresTheMachineStatusWord()
    {
        using var m = new TestMachine(cpl: 3);
        m.Load(a =>
        {
            a.mov(rbx, -1L);
            a.smsw(ebx);
            a.mov(rcx, -1L);
            a.smsw(cx);
            a.smsw(__word_ptr[0x2000]);
            a.mov(rax, cr0);
        });
        Expect.Gp(m);
        ulong value = m.Cpu.Architectural.Cr0;
        Assert.Equal((uint)value, m.Cpu.Gpr(3));
        Assert.Equal(0xFFFF_FFFF_FFFF_0000UL | (ushort)value, m.Cpu.Gpr(1));
        Assert.Equal((ushort)value, m.Memory.Read<ushort>(0x2000));
    }

    [Fact]
    public void CacheInstructionsNeedCpl0()
    {
        using var ok = new TestMachine();
        ok.Load(a =>
        {
            a.wbinvd();
            a.invd();
        });
        Expect.Halts(ok);
        using var user = new TestMachine(cpl: 3);
        user.Load(a => a.wbinvd());
        Expect.Gp(user);
    }

    [Fact]
    public void RdpmcFaultsWithoutCounters()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.xor(ecx, ecx);
            a.rdpmc();
        });
        Expect.Gp(m);
    }
}
