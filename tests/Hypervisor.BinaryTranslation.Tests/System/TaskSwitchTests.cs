using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>
/// Hardware task switches (Intel SDM Vol. 3, 7.3; Vol. 2A CALL, IRET, INT n): nesting and IRET with NT, task
/// gates in the IDT (the way 32-bit Linux handles #DF), 16-bit TSSs, CR3 and the PAE PDPTEs of the new task.
/// </summary>
public class TaskSwitchTests
{
    private const ulong User = TestMachine.CodeBase, TaskB = 0x25000, Handler = 0x22000, Task16 = 0x5000;
    private const ulong Tss16 = 0x13000, TaskBStack = 0x88000;
    private const ushort TssB = 0x58, TssB16 = 0x60, Code16 = 0x20, GateSel = 0x68, Data16 = 0x70;

    private static SystemMachine Build()
    {
        var m = new SystemMachine();
        m.BuildProtected32();
        m.SetDescriptor(TssB, SystemMachine.Segment((uint)SystemMachine.Tss2, 0x67, 0x89, 0));
        WriteTss32(m, SystemMachine.Tss2, (uint)TaskB, (uint)TaskBStack);
        return m;
    }

    /// <summary>A ring-0 32-bit TSS running at eip on the flat segments.</summary>
    private static void WriteTss32(SystemMachine m, ulong tss, uint eip, uint esp, uint cr3 = 0)
    {
        m.WriteU32(tss + 28, cr3);
        m.WriteU32(tss + 32, eip);
        m.WriteU32(tss + 36, 0x2);
        m.WriteU32(tss + 56, esp);
        for (int i = 0; i < 6; i++) m.WriteU16(tss + 72 + 4 * (ulong)i, SystemMachine.KernelData);
        m.WriteU16(tss + 76, SystemMachine.KernelCode32);
    }

    private static uint TypeByte(SystemMachine m, ushort selector) => (uint)(m.ReadU64(SystemMachine.Gdt + selector) >> 40 & 0xFF);

    [Fact]
    public void CallToTssNestsAndIretWithNtReturnsThroughTheBackLink()
    {
        using var m = Build();
        m.Load(TaskB, 32, a =>
        {
            a.pushfd();
            a.pop(__dword_ptr[SystemMachine.Data]);
            a.iretd();
            a.hlt();
        });
        m.Load(User, 32, a =>
        {
            a.mov(eax, 0xA);
            a.call(TssB, 0);
            a.pushfd();
            a.pop(ebx);
            a.hlt();
        });
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(SystemMachine.TssSelector, c.Architectural.Tr.Selector);
        Assert.Equal(User + 5 + 7 + 2 + 1, c.Rip);
        Assert.Equal(0xAUL, c.Gpr(0));
        Assert.Equal(0UL, c.Gpr(3) & FlagBits.NT);
        Assert.NotEqual(0U, m.ReadU32(SystemMachine.Data) & (uint)FlagBits.NT);       // B ran nested
        Assert.Equal((uint)SystemMachine.TssSelector, m.ReadU32(SystemMachine.Tss2) & 0xFFFF); // back link
        Assert.Equal((uint)TaskB + 7 + 1, m.ReadU32(SystemMachine.Tss2 + 32));           // B resumes after IRET
        Assert.Equal(0U, m.ReadU32(SystemMachine.Tss2 + 36) & (uint)FlagBits.NT);        // saved without NT
        Assert.Equal(0x89U, TypeByte(m, TssB));                                          // B available again
        Assert.Equal(0x8BU, TypeByte(m, SystemMachine.TssSelector));                     // A busy throughout
    }

    [Fact]
    public void IretWithNtToATaskThatIsNotBusyRaisesTs()
    {
        using var m = Build();
        m.WriteU16(SystemMachine.Tss, TssB); // back link to an available TSS
        m.Load(User, 32, a =>
        {
            a.pushfd();
            a.or(__dword_ptr[esp], (int)FlagBits.NT);
            a.popfd();
            a.iretd();
        });
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.InvalidTss, m.Cpu.Exception.Vector);
        Assert.Equal((uint)TssB, m.Cpu.Exception.ErrorCode);
        Assert.Equal(SystemMachine.TssSelector, m.Cpu.Architectural.Tr.Selector);
    }

    [Fact]
    public void SixteenBitTssSetsUpperRegisterWordsNullsFsGsAndReturnsWithIret()
    {
        using var m = Build();
        m.SetDescriptor(Code16, SystemMachine.Segment(0, 0xFFFF, 0x9A, 0));
        m.SetDescriptor(TssB16, SystemMachine.Segment((uint)Tss16, 0x2B, 0x81, 0));
        m.WriteU16(Tss16 + 14, (ushort)Task16);  // IP
        m.WriteU16(Tss16 + 16, 0x2);             // FLAGS
        m.WriteU16(Tss16 + 18, 0x4242);          // AX
        m.WriteU16(Tss16 + 26, 0x7000);          // SP
        m.WriteU16(Tss16 + 34, SystemMachine.KernelData); // ES
        m.WriteU16(Tss16 + 36, Code16);          // CS
        m.WriteU16(Tss16 + 38, SystemMachine.KernelData); // SS
        m.WriteU16(Tss16 + 40, SystemMachine.KernelData); // DS
        m.Load(Task16, 16, a =>
        {
            a.mov(__dword_ptr[0x6000], eax);
            a.mov(ax, fs);
            a.mov(__word_ptr[0x6004], ax);
            a.mov(__dword_ptr[0x6008], esp);
            a.iret();
            a.hlt();
        });
        m.Load(User, 32, a =>
        {
            a.mov(eax, 0x1234_5678);
            a.call(TssB16, 0);
            a.hlt();
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0xFFFF_4242U, m.ReadU32(0x6000));
        Assert.Equal(0U, m.ReadU32(0x6004) & 0xFFFF);
        Assert.Equal(0xFFFF_7000U, m.ReadU32(0x6008));
        Assert.Equal((uint)SystemMachine.TssSelector, m.ReadU32(Tss16) & 0xFFFF);
        Assert.Equal((uint)Task16 + 4 + 2 + 3 + 5 + 1, m.ReadU32(Tss16 + 14) & 0xFFFF); // IP saved after IRET
        Assert.Equal(0x81U, TypeByte(m, TssB16));
        Assert.Equal(SystemMachine.TssSelector, m.Cpu.Architectural.Tr.Selector);
        Assert.Equal(0x1234_5678UL, m.Cpu.Gpr(0));
    }

    [Fact]
    public void ExceptionThroughATaskGateRunsTheHandlerTaskWithTheErrorCodeOnItsStack()
    {
        using var m = Build();
        m.WriteU64(SystemMachine.Idt + 13 * 8, SystemMachine.Gate(TssB, 0, SystemType.TaskGate, 0));
        m.Load(TaskB, 32, a =>
        {
            a.pop(eax);
            a.mov(__dword_ptr[SystemMachine.Data], eax);
            a.mov(__dword_ptr[SystemMachine.Data + 4], esp);
            a.hlt();
        });
        m.Load(User, 32, a =>
        {
            a.mov(ax, 0x100); // beyond the GDT limit: #GP(100h)
            a.mov(ds, ax);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(TssB, c.Architectural.Tr.Selector);
        Assert.Equal(0x100U, m.ReadU32(SystemMachine.Data));
        Assert.Equal((uint)TaskBStack, m.ReadU32(SystemMachine.Data + 4));
        Assert.Equal((uint)User + 4, m.ReadU32(SystemMachine.Tss + 32)); // A's EIP: the faulting instruction
        Assert.Equal((uint)SystemMachine.TssSelector, m.ReadU32(SystemMachine.Tss2) & 0xFFFF);
        Assert.NotEqual(0UL, c.GetRflags() & FlagBits.NT);
        Assert.Equal(0x8BU, TypeByte(m, TssB));
        Assert.Equal(0x8BU, TypeByte(m, SystemMachine.TssSelector));
    }

    [Fact]
    public void ExceptionThroughATaskGateToA16BitTssPushesAWordErrorCode()
    {
        using var m = Build();
        m.SetDescriptor(Code16, SystemMachine.Segment(0, 0xFFFF, 0x9A, 0));
        m.SetDescriptor(TssB16, SystemMachine.Segment((uint)Tss16, 0x2B, 0x81, 0));
        m.WriteU16(Tss16 + 14, (ushort)Task16);
        m.WriteU16(Tss16 + 16, 0x2);
        m.WriteU16(Tss16 + 26, 0x7000);                       // SP
        m.WriteU16(Tss16 + 34, SystemMachine.KernelData);
        m.WriteU16(Tss16 + 36, Code16);
        m.SetDescriptor(Data16, SystemMachine.Segment(0, 0xFFFF, 0x92, 0)); // B = 0: the push uses SP
        m.WriteU16(Tss16 + 38, Data16);
        m.WriteU16(Tss16 + 40, SystemMachine.KernelData);
        m.WriteU64(SystemMachine.Idt + 13 * 8, SystemMachine.Gate(TssB16, 0, SystemType.TaskGate, 0));
        m.Load(Task16, 16, a => a.hlt());
        m.Load(User, 32, a =>
        {
            a.mov(ax, 0x104);
            a.mov(ds, ax);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(TssB16, m.Cpu.Architectural.Tr.Selector);
        Assert.Equal(0xFFFF_6FFEUL, m.Cpu.Gpr(4));          // one word below SP (upper word FFFFh from the 16-bit TSS)
        Assert.Equal(0x104U, m.ReadU32(0x6FFE) & 0xFFFF);
        Assert.Equal(0U, m.ReadU32(0x7000) & 0xFFFF);
    }

    [Fact]
    public void JumpToABusyTaskThroughATaskGateRaisesGp()
    {
        using var m = Build();
        m.SetDescriptor(GateSel, SystemMachine.Gate(SystemMachine.TssSelector, 0, SystemType.TaskGate, 0));
        m.Load(User, 32, a => a.jmp(GateSel, 0));
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.GeneralProtection, m.Cpu.Exception.Vector);
        Assert.Equal((uint)SystemMachine.TssSelector, m.Cpu.Exception.ErrorCode);
    }

    private const ulong Pdpt = 0x70000, PageDirectory = 0x71000;

    /// <summary>PAE paging, identity-mapping the first 2 MiB through PDPTE 0 of the table at CR3 = Pdpt.</summary>
    private static void EnablePae(SystemMachine m)
    {
        m.WriteU64(PageDirectory, 0x83);
        for (ulong table = 0; table < 3; table++) m.WriteU64(Pdpt + table * 32, PageDirectory | 1);
        m.WriteU64(Pdpt + 32 + 8, PageDirectory | 1);          // table 1: PDPTE 1 present as well
        m.WriteU64(Pdpt + 64 + 8, PageDirectory | 1 | 2);      // table 2: PDPTE 1 with reserved bit 1
        var s = m.Cpu.Save();
        s.Cr3 = Pdpt;
        s.Cr4 |= 0x20;
        s.Cr0 |= 0x8000_0000;
        m.Cpu.Load(s);
    }

    [Fact]
    public void TaskSwitchChangingCr3UnderPaeReloadsThePdptes()
    {
        using var m = Build();
        EnablePae(m);
        WriteTss32(m, SystemMachine.Tss2, (uint)TaskB, (uint)TaskBStack, (uint)Pdpt + 32);
        m.Load(TaskB, 32, a => a.hlt());
        m.Load(User, 32, a => a.jmp(TssB, 0));
        Assert.Equal(0UL, m.Cpu.Pdptes[1]);
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(Pdpt + 32, m.Cpu.Architectural.Cr3);
        Assert.Equal(PageDirectory | 1, m.Cpu.Pdptes[1]);
        Assert.Equal(TaskB + 1, m.Cpu.Rip);
    }

    [Fact]
    public void InvalidPdpteOfTheNewTaskRaisesGpInItsContext()
    {
        using var m = Build();
        EnablePae(m);
        WriteTss32(m, SystemMachine.Tss2, (uint)TaskB, (uint)TaskBStack, (uint)Pdpt + 64);
        m.SetGate32(13, (uint)Handler);
        m.Load(Handler, 32, a =>
        {
            a.mov(ecx, __dword_ptr[esp]);
            a.mov(edx, __dword_ptr[esp + 4]);
            a.hlt();
        });
        m.Load(User, 32, a => a.jmp(TssB, 0));
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(TssB, c.Architectural.Tr.Selector);       // after the commit point
        Assert.Equal(Pdpt, c.Architectural.Cr3);                // CR3 and the PDPTEs stay
        Assert.Equal(0UL, c.Pdptes[1]);
        Assert.Equal(0UL, c.Gpr(1));                            // #GP(0)
        Assert.Equal(TaskB, c.Gpr(2));                          // at the new task's first instruction
        Assert.Equal(TaskBStack - 16, c.Gpr(4));
    }
}
