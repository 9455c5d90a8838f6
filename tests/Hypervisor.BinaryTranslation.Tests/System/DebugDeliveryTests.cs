using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>
/// #DB and RF through real IA-32e delivery (Intel SDM Vol. 3, 19.3.1.1, 6.14): ICEBP, software interrupts under
/// TF, and the RF value pushed for faults. Each handler copies the pushed RIP to RDX and RFLAGS to RCX and halts.
/// </summary>
public class DebugDeliveryTests
{
    private const ulong Code = 0x1000, DebugHandler = 0x21000, OtherHandler = 0x22000;

    private static SystemMachine Build()
    {
        var m = new SystemMachine();
        m.BuildLongMode();
        foreach (ulong handler in new[] { DebugHandler, OtherHandler })
        {
            m.Load(handler, 64, a =>
            {
                a.mov(rdx, __qword_ptr[rsp]);
                a.mov(rcx, __qword_ptr[rsp + 16]);
                a.mov(esi, (int)handler);
                a.hlt();
            });
        }
        m.SetGate64(1, DebugHandler);
        for (int v = 3; v < 14; v++) m.SetGate64(v, OtherHandler, dpl: 3);
        return m;
    }

    /// <summary>ICEBP (INT1): a #DB trap past the instruction, without the gate DPL check and without DR6 bits.</summary>
    [Fact]
    public void IcebpDeliversADebugTrapWithoutDr6Conditions()
    {
        using var m = Build();
        m.Load(Code, 64, a => a.int1());
        m.Cpu.Rip = Code;
        ulong dr6 = m.Cpu.Architectural.Dr6;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(DebugHandler, m.Cpu.Gpr(6));
        Assert.Equal(Code + 1, m.Cpu.Gpr(2));
        Assert.Equal(dr6, m.Cpu.Architectural.Dr6);
    }

    /// <summary>INT3 under TF: delivery clears TF, so no single-step trap follows the INT3 (the handler runs unstepped).</summary>
    [Fact]
    public void Int3UnderTfIsNotFollowedByASingleStepTrap()
    {
        using var m = Build();
        m.Load(Code, 64, a => a.int3());
        m.Cpu.Rip = Code;
        m.Cpu.Rflags |= FlagBits.TF;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(OtherHandler, m.Cpu.Gpr(6));
        Assert.Equal(Code + 1, m.Cpu.Gpr(2));
        Assert.NotEqual(0UL, m.Cpu.Gpr(1) & FlagBits.TF);
        Assert.Equal(0UL, m.Cpu.Rflags & FlagBits.TF);
    }

    /// <summary>
    /// A task switch clears DR7.L0-L3 (G0-G3 stay) and, with the new TSS's T flag, raises a #DB trap with DR6.BT
    /// before the new task's first instruction (SDM Vol. 3, 19.2.4, 19.3.1.5).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TaskSwitchClearsLocalEnablesAndTrapsOnTheTFlag(bool tFlag)
    {
        using var m = new SystemMachine();
        m.BuildProtected32();
        const ushort tss2 = 0x58;
        const ulong task2 = 0x25000;
        m.SetDescriptor(tss2, SystemMachine.Segment((uint)SystemMachine.Tss2, 0x67, 0x89, 0));
        m.WriteU32(SystemMachine.Tss2 + 32, (uint)task2);
        m.WriteU32(SystemMachine.Tss2 + 36, 0x2);
        m.WriteU32(SystemMachine.Tss2 + 56, (uint)SystemMachine.KernelStack - 0x800);
        m.WriteU16(SystemMachine.Tss2 + 72, SystemMachine.KernelData);
        m.WriteU16(SystemMachine.Tss2 + 76, SystemMachine.KernelCode32);
        m.WriteU16(SystemMachine.Tss2 + 80, SystemMachine.KernelData);
        m.WriteU16(SystemMachine.Tss2 + 84, SystemMachine.KernelData);
        m.WriteU16(SystemMachine.Tss2 + 100, (ushort)(tFlag ? 1 : 0));
        m.Load(task2, 32, a => a.hlt());
        m.Load(Code, 32, a => a.jmp(tss2, 0));
        m.Cpu.Architectural.Dr7 = 0x400 | 0xFF;
        m.Cpu.Architectural.Dr0 = m.Cpu.Architectural.Dr1 = m.Cpu.Architectural.Dr2 = m.Cpu.Architectural.Dr3 = 0xFFF0;
        DebugBreakpoints.Refresh(m.Cpu);
        if (!tFlag)
        {
            Assert.Equal(RunExit.Halted, m.Machine.Run());
        }
        else
        {
            Assert.Equal(RunExit.Exception, m.Machine.Run());
            Assert.Equal(Vectors.Debug, m.Cpu.Exception.Vector);
            Assert.Equal(task2, m.Cpu.Rip);
            Assert.Equal(0xFFFF_0FF0UL | 1UL << 15, m.Cpu.Architectural.Dr6);
        }
        Assert.Equal(0x400UL | 0xAA, m.Cpu.Architectural.Dr7);
    }

    /// <summary>
    /// INT n whose frame push hits a data breakpoint: the #DB trap follows the INT n, so it is taken before the
    /// handler's first instruction (the POP SS / MOV SS + INT case of CVE-2018-8897 without the inhibit).
    /// </summary>
    [Fact]
    public void DataBreakpointHitByAnInterruptFramePushTrapsBeforeTheHandler()
    {
        using var m = Build();
        const ulong stack = 0x50000;
        m.Load(Code, 64, a => a.@int(3));
        m.Cpu.Rip = Code;
        m.Cpu.Gpr(4) = stack;
        var arch = m.Cpu.Architectural;
        arch.Dr0 = stack - 8;                                  // where the RFLAGS... frame starts: SS at -8
        arch.Dr7 = 0x400 | 1 | 1UL << 16 | 3UL << 18;          // L0, write, 8 bytes
        DebugBreakpoints.Refresh(m.Cpu);
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.Debug, m.Cpu.Exception.Vector);
        Assert.Equal(OtherHandler, m.Cpu.Rip);
        Assert.Equal(0xFFFF_0FF1UL, m.Cpu.Architectural.Dr6);
    }

    /// <summary>
    /// MOV SS then a MOV DR with DR7.GD: the general-detect fault is raised at the MOV DR (faults are not inhibited)
    /// and the single-step trap held for MOV SS is dropped with it.
    /// </summary>
    [Fact]
    public void GeneralDetectInTheMovSsShadowFaultsAndDropsTheHeldTrap()
    {
        using var m = Build();
        m.Load(Code, 64, a =>
        {
            a.mov(eax, ss);
            a.mov(ss, eax);
            a.mov(rax, dr7);
        });
        m.Cpu.Rip = Code;
        m.Cpu.Rflags |= FlagBits.TF;
        Assert.Equal(RunExit.Exception, m.Machine.Run());       // the trap after MOV EAX, SS
        Assert.Equal(Code + 2, m.Cpu.Rip);
        m.Cpu.Architectural.Dr6 = 0xFFFF_0FF0;
        m.Cpu.Architectural.Dr7 = 0x400 | 1UL << 13;
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.Debug, m.Cpu.Exception.Vector);
        Assert.Equal(Code + 4, m.Cpu.Rip);
        Assert.Equal(0xFFFF_0FF0UL | 1UL << 13, m.Cpu.Architectural.Dr6);
        Assert.Equal(0UL, m.Cpu.PendingDebugDr6);
        Assert.Equal(0u, m.Cpu.DebugArmed & DebugBreakpoints.ArmedInhibit);
    }

    /// <summary>A fault-class exception pushes RF = 1; a single-step trap pushes the RF of the moment (0).</summary>
    [Fact]
    public void FaultsPushRfAndTrapsDoNot()
    {
        using var m = Build();
        m.Load(Code, 64, a => a.ud2());
        m.Cpu.Rip = Code;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(OtherHandler, m.Cpu.Gpr(6));
        Assert.Equal(Code, m.Cpu.Gpr(2));
        Assert.NotEqual(0UL, m.Cpu.Gpr(1) & FlagBits.RF);
        Assert.Equal(0UL, m.Cpu.Rflags & FlagBits.RF);

        using var n = Build();
        n.Load(Code, 64, a => a.nop());
        n.Cpu.Rip = Code;
        n.Cpu.Rflags |= FlagBits.TF;
        Assert.Equal(RunExit.Halted, n.Run());
        Assert.Equal(DebugHandler, n.Cpu.Gpr(6));
        Assert.Equal(Code + 1, n.Cpu.Gpr(2));
        Assert.Equal(0UL, n.Cpu.Gpr(1) & FlagBits.RF);
    }
}
