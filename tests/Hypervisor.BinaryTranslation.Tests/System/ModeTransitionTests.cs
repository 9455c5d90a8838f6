using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>
/// Entering and leaving protected mode, IA-32e mode and PAE paging through CR0, CR4, CR3 and IA32_EFER (Intel SDM
/// Vol. 3, 10.9 and 10.8.5: the IA-32e consistency checks; 4.4.1: the PDPTE registers).
/// </summary>
public class ModeTransitionTests
{
    private const ulong Pml4 = 0x10000, Pdpt = 0x11000, Pd = 0x12000;
    private const uint Efer = 0xC000_0080;

    /// <summary>4-level tables mapping the first 2 MiB linear = physical.</summary>
    private static void Install4LevelTables(TestMachine m)
    {
        m.Memory.Write(Pml4, Pdpt | 3);
        m.Memory.Write(Pdpt, Pd | 3);
        m.Memory.Write(Pd, 0x83UL);
    }

    private const int Cr0Pe = 1, Cr4Pae = 0x20, EferLme = 0x100;
    private const uint Cr0Pg = 0x8000_0000;

    private static void SetCr0(Assembler a, uint bits)
    {
        a.mov(eax, cr0);
        a.or(eax, unchecked((int)bits));
        a.mov(cr0, eax);
    }

    private static void SetCr4(Assembler a, int bits)
    {
        a.mov(eax, cr4);
        a.or(eax, bits);
        a.mov(cr4, eax);
    }

    private static void SetEfer(Assembler a, int bits)
    {
        a.mov(ecx, Efer);
        a.rdmsr();
        a.or(eax, bits);
        a.wrmsr();
    }

    /// <summary>
    /// 32-bit protected mode (CR0.PE | ET) with CR4.PAE (and OSFXSR, OSXMMEXCPT), CR3 = <paramref name="cr3"/> and
    /// IA32_EFER = <paramref name="efer"/>, paging still off; <paramref name="adjust"/> changes the rest.
    /// </summary>
    private static void LoadPaePagingOff(TestMachine m, ulong cr3, ulong efer = 0, Action<CpuState>? adjust = null)
    {
        var s = m.Cpu.Save();
        s.Cr0 = 0x11;
        s.Cr4 = 0x620;
        s.Cr3 = cr3;
        if (efer != 0)
        {
            s.Efer = efer;
        }
        adjust?.Invoke(s);
        m.Cpu.Load(s);
    }

    [Fact]
    public void SettingPeEntersProtectedMode()
    {
        using var m = new TestMachine(bits: 16);
        m.Load(a => SetCr0(a, Cr0Pe), bits: 16);
        Expect.Halts(m);
        Assert.Equal(CpuMode.Protected, m.Cpu.Mode);
        Assert.Equal(16, m.Cpu.CodeBits);
    }

    /// <summary>The SDM's sequence (10.8.5): PAE, CR3, EFER.LME, then CR0.PG activates IA-32e mode (LMA = 1).</summary>
    [Fact]
    public void PagingWithLongModeEnabledActivatesIa32eModeAndClearingItLeaves()
    {
        using var m = new TestMachine(bits: 16);
        Install4LevelTables(m);
        m.Load(a =>
        {
            SetCr0(a, Cr0Pe);
            SetCr4(a, Cr4Pae);
            a.mov(eax, (uint)Pml4);
            a.mov(cr3, eax);
            SetEfer(a, EferLme);
            SetCr0(a, Cr0Pg);
            a.hlt();
            a.mov(eax, cr0);
            a.and(eax, 0x7FFF_FFFF);
            a.mov(cr0, eax);
        }, bits: 16);
        var exit = m.Run();
        Assert.True(exit == Hypervisor.BinaryTranslation.Execution.RunExit.Halted, $"{exit} vector {m.Cpu.Exception.Vector} rip {m.Cpu.Rip:X} mode {m.Cpu.Mode} efer {m.Cpu.Architectural.Efer:X} cr0 {m.Cpu.Architectural.Cr0:X}");
        Assert.NotEqual(0UL, m.Cpu.Architectural.Efer & 0x400);
        // CS still holds a 16-bit segment: compatibility mode until a far transfer loads a 64-bit one.
        Assert.Equal(CpuMode.Compatibility, m.Cpu.Mode);

        Expect.Halts(m);
        Assert.Equal(0UL, m.Cpu.Architectural.Efer & 0x400);
        Assert.Equal(0x100UL, m.Cpu.Architectural.Efer & 0x100);
        Assert.Equal(CpuMode.Protected, m.Cpu.Mode);
    }

    [Fact]
    public void ActivatingIa32eModeWithoutPaeRaisesGp()
    {
        using var m = new TestMachine(bits: 16);
        Install4LevelTables(m);
        m.Load(a =>
        {
            SetCr0(a, Cr0Pe);
            a.mov(eax, (uint)Pml4);
            a.mov(cr3, eax);
            SetEfer(a, EferLme);
            SetCr0(a, Cr0Pg);
        }, bits: 16);
        Expect.Gp(m);
        Assert.Equal(0UL, m.Cpu.Architectural.Cr0 & 0x8000_0000);
        Assert.Equal(0UL, m.Cpu.Architectural.Efer & 0x400);
    }

    [Fact]
    public void ActivatingIa32eModeWithCsLSetRaisesGp()
    {
        using var m = new TestMachine(bits: 32);
        Install4LevelTables(m);
        LoadPaePagingOff(m, Pml4, efer: EferLme, s => s.Cs.Long = true);
        m.Load(a => SetCr0(a, Cr0Pg), bits: 32);
        Expect.Gp(m);
    }

    [Fact]
    public void ActivatingIa32eModeWithA16BitTssRaisesGp()
    {
        using var m = new TestMachine(bits: 32);
        Install4LevelTables(m);
        LoadPaePagingOff(m, Pml4, efer: EferLme, s =>
        {
            s.Tr.Type = 3; // busy 16-bit TSS
        });
        m.Load(a => SetCr0(a, Cr0Pg), bits: 32);
        Expect.Gp(m);
        Assert.Equal(0UL, m.Cpu.Architectural.Efer & 0x400);
    }

    [Fact]
    public void ChangingLmeWhilePagingRaisesGp()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(ecx, Efer);
            a.rdmsr();
            a.and(eax, ~0x100);
            a.wrmsr();
        });
        Expect.Gp(m);
        Assert.Equal(0x500UL, m.Cpu.Architectural.Efer & 0x500);
    }

    /// <summary>
    /// Enabling PAE paging loads the four PDPTEs from CR3; a reserved bit in a present one makes the MOV raise #GP
    /// and leaves the register unchanged (Vol. 3, 4.4.1).
    /// </summary>
    [Fact]
    public void PaePagingLoadsThePdptesAndRejectsReservedBits()
    {
        const ulong goodPdpt = 0x20000, badPdpt = 0x20020, paeDirectory = 0x21000;
        using var m = new TestMachine(bits: 32);
        LoadPaePagingOff(m, goodPdpt);
        m.Memory.Write(goodPdpt, paeDirectory | 1);
        m.Memory.Write(badPdpt, paeDirectory | 1 | 1UL << 5); // bit 5 is reserved in a PAE PDPTE
        m.Memory.Write(paeDirectory, 0x83UL);
        m.Load(a =>
        {
            SetCr0(a, Cr0Pg);
            a.mov(eax, (uint)badPdpt);
            a.mov(cr3, eax);
        }, bits: 32);
        Expect.Gp(m);
        Assert.Equal(goodPdpt, m.Cpu.Architectural.Cr3);
        Assert.Equal(paeDirectory | 1, m.Cpu.Pdptes[0]);
        Assert.NotEqual(0UL, m.Cpu.Architectural.Cr0 & 0x8000_0000);
    }

    [Fact]
    public void EnablingPaePagingWithAnInvalidPdpteRaisesGp()
    {
        const ulong pdpt = 0x20000;
        using var m = new TestMachine(bits: 32);
        LoadPaePagingOff(m, pdpt);
        m.Memory.Write(pdpt + 8, 0x21000UL | 1 | 1UL << 2);
        m.Load(a => SetCr0(a, Cr0Pg), bits: 32);
        Expect.Gp(m);
        Assert.Equal(0UL, m.Cpu.Architectural.Cr0 & 0x8000_0000);
    }

    /// <summary>INVLPG drops the page's translation, so a changed page-table entry takes effect.</summary>
    [Fact]
    public void InvlpgMakesAChangedMappingVisible()
    {
        using var m = new TestMachine(ramSize: 8 << 20);
        m.Memory.Write(0x20_0000UL, 0x1111UL);
        m.Memory.Write(0x40_0000UL, 0x2222UL);
        m.Load(a =>
        {
            a.mov(rsi, 0x20_0000);
            a.mov(rax, __qword_ptr[rsi]);
            a.hlt();
            a.invlpg(__[rsi]);
            a.mov(rbx, __qword_ptr[rsi]);
        });
        Expect.Halts(m);
        Assert.Equal(0x1111UL, m.Cpu.Gpr(0));
        // Point the 2 MiB page at 0x200000 to physical 0x400000 (PD entry 1 of the identity tables).
        ulong pd = Tests.Memory.IdentityPaging.TablesBase + 0x2000;
        m.Memory.Write(pd + 8, 0x40_0000UL | 0x87);
        Expect.Halts(m);
        Assert.Equal(0x2222UL, m.Cpu.Gpr(3));
    }

    [Fact]
    public void InvlpgNeedsCpl0AndIgnoresNonCanonicalAddresses()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0x8000_0000_0000_0000UL);
            a.invlpg(__[rax]);
        });
        Expect.Halts(m);
        using var user = new TestMachine(cpl: 3);
        user.Load(a => a.invlpg(__[rax]));
        Expect.Gp(user);
    }
}
