using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>Real-mode IVT delivery, far transfers, and virtual-8086 mode entry/exit.</summary>
public class RealAndV86Tests
{
    [Fact]
    public void RealModeIntUsesIvtAndIretReturns()
    {
        using var m = new SystemMachine();
        m.BuildReal();
        // INT 0x21 -> 0200:0010 (linear 0x2010).
        m.WriteU32(0x21 * 4, 0x0200_0010);
        m.Load(0x2010, 16, a =>
        {
            a.mov(bp, sp);
            a.mov(si, __word_ptr[bp]);      // IP
            a.mov(di, __word_ptr[bp + 2]);  // CS
            a.mov(dx, cs);
            a.inc(ax);
            a.iret();
        });
        m.Load(TestMachine.CodeBase, 16, a =>
        {
            a.mov(ax, 5);
            a.sti();
            a.@int(0x21);
            a.pushf();
            a.pop(cx);
            a.hlt();
        });
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(6UL, c.Gpr(0) & 0xFFFF);
        Assert.Equal(TestMachine.CodeBase + 3 + 1 + 2, c.Gpr(6) & 0xFFFF);
        Assert.Equal(0UL, c.Gpr(7) & 0xFFFF);
        Assert.Equal(0x200UL, c.Gpr(2) & 0xFFFF);
        Assert.NotEqual(0UL, c.Gpr(1) & FlagBits.IF); // IRET restored IF
        Assert.Equal(0xFFF0UL, c.Gpr(4) & 0xFFFF);
    }

    [Fact]
    public void RealModeFarCallAndRetf()
    {
        using var m = new SystemMachine();
        m.BuildReal();
        m.Load(0x30000 + 0x20, 16, a =>
        {
            a.mov(dx, cs);
            a.retf();
        });
        m.Load(TestMachine.CodeBase, 16, a =>
        {
            a.call(0x3000, 0x20);
            a.mov(bx, cs);
            a.hlt();
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0x3000UL, m.Cpu.Gpr(2) & 0xFFFF);
        Assert.Equal(0UL, m.Cpu.Gpr(3) & 0xFFFF);
        Assert.Equal(0xFFF0UL, m.Cpu.Gpr(4) & 0xFFFF);
    }

    [Fact]
    public void IretdToV86AndInterruptBackToRing0()
    {
        using var m = new SystemMachine();
        m.BuildProtected32();
        const ulong handler = 0x20000, v86Code = 0x5000;
        m.Load(handler, 32, a =>
        {
            a.mov(eax, __dword_ptr[esp]);       // EIP
            a.mov(ebx, __dword_ptr[esp + 4]);   // CS
            a.mov(ecx, __dword_ptr[esp + 8]);   // EFLAGS
            a.mov(edx, __dword_ptr[esp + 20]);  // ES
            a.mov(esi, __dword_ptr[esp + 32]);  // GS
            a.mov(edi, ds);
            a.hlt();
        });
        m.SetGate32(0x30, (uint)handler, dpl: 3);
        // V86 code at 0500:0000: int 0x30.
        m.Load(v86Code, 16, a => a.@int(0x30));
        m.Load(TestMachine.CodeBase, 32, a =>
        {
            a.push(0x0700); // GS
            a.push(0x0600); // FS
            a.push(0x0400); // DS
            a.push(0x0300); // ES
            a.push(0x0800); // SS
            a.push(0x0100); // ESP
            a.push(0x23202);// EFLAGS: VM, IOPL 3, IF
            a.push(0x0500); // CS
            a.push(0x0000); // EIP
            a.iretd();
        });
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(2UL, c.Gpr(0));
        Assert.Equal(0x500UL, c.Gpr(3));
        Assert.NotEqual(0UL, c.Gpr(1) & FlagBits.VM);
        Assert.Equal(0x300UL, c.Gpr(2));
        Assert.Equal(0x700UL, c.Gpr(6));
        Assert.Equal(0UL, c.Gpr(7) & 0xFFFF); // DS nulled on the way out of V86
        Assert.Equal(CpuMode.Protected, c.Mode);
        Assert.Equal(SystemMachine.KernelStack - 36, c.Gpr(4));
    }
}
