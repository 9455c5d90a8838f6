using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.State;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>
/// Real -> protected -> IA-32e mode the way a boot loader does it (Intel SDM Vol. 3, 10.9 and 10.8.5). The
/// CR0/CR4/EFER writes happen in the test between HLTs (MOV CRn and WRMSR are not part of this area); every
/// descriptor-table, segment and far-transfer step runs as guest instructions.
/// </summary>
public class ModeSwitchTests
{
    private static void Resume(SystemMachine m, Action<Hypervisor.Platform.Cpu.CpuState> change)
    {
        var s = m.Cpu.Save();
        change(s);
        m.Cpu.Load(s);
    }

    [Fact]
    public void RealToProtectedToLongModeThroughFarJumps()
    {
        using var m = new SystemMachine();
        m.BuildLongMode();
        m.Load(0x20000, 64, a => { a.inc(eax); a.iretq(); });
        m.SetGate64(0x80, 0x20000);
        // Pseudo-descriptors: GDTR at 0x600, IDTR at 0x608.
        m.WriteU16(0x600, 0x7F);
        m.WriteU32(0x602, (uint)SystemMachine.Gdt);
        m.WriteU16(0x608, 256 * 16 - 1);
        m.WriteU32(0x60A, (uint)SystemMachine.Idt);
        m.BuildReal();
        m.Load(0x1000, 16, a =>
        {
            a.lgdt(__[0x600]);
            a.hlt();                                 // the test sets CR0.PE here
            a.jmp(SystemMachine.KernelCode32, 0x1100);
        });
        m.Load(0x1100, 32, a =>
        {
            a.mov(ax, SystemMachine.KernelData);
            a.mov(ds, ax);
            a.mov(es, ax);
            a.mov(ss, ax);
            a.mov(esp, (uint)SystemMachine.KernelStack - 0x100);
            a.lidt(__[0x608]);
            a.mov(ax, SystemMachine.TssSelector);
            a.ltr(ax);
            a.hlt();                                 // the test enables paging and IA-32e mode here
            a.jmp(SystemMachine.KernelCode64, 0x1200);
        });
        m.Load(0x1200, 64, a =>
        {
            a.mov(eax, 41);
            a.@int(0x80);
            a.hlt();
        });

        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(CpuMode.Real, m.Cpu.Mode);
        Assert.Equal(SystemMachine.Gdt, m.Cpu.Architectural.Gdtr.Base);
        Resume(m, s => s.Cr0 |= 1);

        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(CpuMode.Protected, m.Cpu.Mode);
        Assert.Equal(32, m.Cpu.CodeBits);
        Assert.Equal(SystemMachine.TssSelector, m.Cpu.Architectural.Tr.Selector);
        Assert.Equal(0x8BUL, m.ReadU64(SystemMachine.Gdt + SystemMachine.TssSelector) >> 40 & 0xFF);
        Resume(m, s =>
        {
            m.IdentityMap(s);
            s.Efer |= 0x500;
            s.Cr0 |= 0x8000_0000;
        });
        Assert.Equal(CpuMode.Compatibility, m.Cpu.Mode);

        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(CpuMode.Long64, m.Cpu.Mode);
        Assert.Equal(42UL, m.Cpu.Gpr(0));
        Assert.Equal(0x1200UL + 5 + 2 + 1, m.Cpu.Rip);
        Assert.Equal(SystemMachine.KernelStack - 0x100, m.Cpu.Gpr(4));
    }
}
