using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Execution;

/// <summary>
/// EFLAGS.TF single-step and RF (Intel SDM Vol. 3, 19.3.1.4 and 19.3.1.1; Vol. 2B POPF, MOV SS): the interpreter
/// returns each #DB trap with RIP past the instruction, DR6.BS set and B0-B3 rewritten.
/// </summary>
public class DebugStepTests
{
    private const ulong Dr6Bs = 1UL << 14;
    private const ulong Dr6Clear = 0xFFFF_0FF0;

    private static void ExpectStep(TestMachine m, ulong rip)
    {
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.Debug, m.Cpu.Exception.Vector);
        Assert.False(m.Cpu.Exception.HasErrorCode);
        Assert.Equal(rip, m.Cpu.Rip);
        Assert.Equal(Dr6Clear | Dr6Bs, m.Cpu.Architectural.Dr6);
    }

    [Fact]
    public void TrapsAfterEveryInstructionWithTf()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.nop();
            a.mov(eax, 5);
        });
        m.Cpu.Rflags |= FlagBits.TF;
        long retired = m.Cpu.InstructionsRetired;
        ExpectStep(m, TestMachine.CodeBase + 1);
        Assert.Equal(retired + 1, m.Cpu.InstructionsRetired);
        ExpectStep(m, TestMachine.CodeBase + 6);
        Assert.Equal(5UL, m.Cpu.Gpr(0));
    }

    /// <summary>The POPF that sets TF does not trap (TF was clear at its start); the one that clears it does.</summary>
    [Fact]
    public void PopfSettingTfDoesNotTrapAndPopfClearingItDoes()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.pushfq();
            a.or(__qword_ptr[rsp], 0x100);
            a.popfq();
            a.nop();
            a.pushfq();
            a.and(__qword_ptr[rsp], ~0x100);
            a.popfq();
            a.nop();
        });
        ExpectStep(m, TestMachine.CodeBase + 11);    // after the NOP that follows the first POPFQ
        ExpectStep(m, TestMachine.CodeBase + 12);
        ExpectStep(m, TestMachine.CodeBase + 20);
        ExpectStep(m, TestMachine.CodeBase + 21);    // the POPFQ that cleared TF
        Assert.Equal(RunExit.Halted, m.Run());
    }

    /// <summary>A REP string instruction traps after each iteration with RIP on itself and RF = 1 in RFLAGS.</summary>
    [Fact]
    public void RepStringTrapsAfterEachIteration()
    {
        using var m = new TestMachine();
        m.Load(a => a.rep.stosb());
        m.Cpu.Gpr(1) = 3;
        m.Cpu.Gpr(7) = 0x3000;
        m.Cpu.Rflags |= FlagBits.TF;
        ExpectStep(m, TestMachine.CodeBase);
        Assert.Equal(2UL, m.Cpu.Gpr(1));
        Assert.NotEqual(0UL, m.Cpu.Rflags & FlagBits.RF);
        ExpectStep(m, TestMachine.CodeBase);
        ExpectStep(m, TestMachine.CodeBase + 2);
        Assert.Equal(0UL, m.Cpu.Gpr(1));
        Assert.Equal(0UL, m.Cpu.Rflags & FlagBits.RF);
        Assert.Equal(0x3003UL, m.Cpu.Gpr(7));
    }

    /// <summary>MOV SS holds debug exceptions until the boundary after the next instruction (SDM Vol. 3, 6.8.3).</summary>
    [Fact]
    public void MovSsDefersTheSingleStepTrapPastTheNextInstruction()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(ax, ss);
            a.mov(ss, ax);
            a.nop();
            a.nop();
        }, bits: 16);
        m.Cpu.Rflags |= FlagBits.TF;
        ExpectStep(m, TestMachine.CodeBase + 2);
        ExpectStep(m, TestMachine.CodeBase + 5);     // one trap for MOV SS and the NOP after it
        ExpectStep(m, TestMachine.CodeBase + 6);
    }

    /// <summary>HLT with TF: the #DB trap that follows is the event that resumes the processor.</summary>
    [Fact]
    public void HltWithTfTrapsInsteadOfHalting()
    {
        using var m = new TestMachine();
        m.Load(_ => { });
        m.Cpu.Rflags |= FlagBits.TF;
        ExpectStep(m, TestMachine.CodeBase + 1);
    }

    /// <summary>RF = 1 suppresses instruction breakpoints for one instruction and is cleared when it completes.</summary>
    [Fact]
    public void RfIsClearedAfterOneInstruction()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.nop();
            a.nop();
        });
        m.Cpu.Rflags |= FlagBits.RF;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0UL, m.Cpu.Rflags & FlagBits.RF);
    }

    /// <summary>SYSRET loading TF from R11 traps at the first user instruction, before it runs.</summary>
    [Fact]
    public void SysretSettingTfTrapsAtTheReturnAddress()
    {
        using var m = new SystemLevel.SystemMachine();
        m.BuildLongMode();
        const ulong entry = 0x24000, user = 0x1000;
        m.Load(entry, 64, a =>
        {
            a.mov(r11, 0x302);                       // IF | TF
            a.sysretq();
        });
        m.Load(user, 64, a =>
        {
            a.syscall();
            a.nop();
            a.hlt();
        });
        var s = m.Cpu.Save();
        s.Efer |= 1;
        s.Msrs[MsrIndex.Star] = 0x23UL << 48 | 0x08UL << 32;
        s.Msrs[MsrIndex.Lstar] = entry;
        s.Msrs[MsrIndex.Sfmask] = FlagBits.IF | FlagBits.TF;
        m.Cpu.Load(s);
        m.EnterUser64(user);
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.Debug, m.Cpu.Exception.Vector);
        Assert.Equal(user + 2, m.Cpu.Rip);
        Assert.Equal(3, m.Cpu.Cpl);
        Assert.NotEqual(0UL, m.Cpu.Architectural.Dr6 & Dr6Bs);
    }

    /// <summary>SYSCALL with TF masked by FMASK does not trap in the kernel; with TF left set it traps at the entry.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SyscallTrapsOnlyWhenFmaskLeavesTfSet(bool masked)
    {
        using var m = new SystemLevel.SystemMachine();
        m.BuildLongMode();
        const ulong entry = 0x24000, user = 0x1000;
        m.Load(entry, 64, a =>
        {
            a.nop();
            a.hlt();
        });
        m.Load(user, 64, a => a.syscall());
        var s = m.Cpu.Save();
        s.Efer |= 1;
        s.Msrs[MsrIndex.Star] = 0x23UL << 48 | 0x08UL << 32;
        s.Msrs[MsrIndex.Lstar] = entry;
        s.Msrs[MsrIndex.Sfmask] = masked ? FlagBits.TF : 0;
        m.Cpu.Load(s);
        m.EnterUser64(user);
        m.Cpu.Rflags |= FlagBits.TF;
        if (masked)
        {
            Assert.Equal(RunExit.Halted, m.Machine.Run());
            return;
        }
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.Debug, m.Cpu.Exception.Vector);
        Assert.Equal(entry, m.Cpu.Rip);
    }

    /// <summary>A store into its own code page makes the stepped block stale after the store: it still completed and traps.</summary>
    [Fact]
    public void StoreIntoTheSteppedCodePageStillTraps()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(__byte_ptr[rbx], 0x90);
            a.nop();
        });
        m.Cpu.Gpr(3) = TestMachine.CodeBase + 0x100;
        m.Cpu.Rflags |= FlagBits.TF;
        long retired = m.Cpu.InstructionsRetired;
        ExpectStep(m, TestMachine.CodeBase + 3);
        Assert.Equal(retired + 1, m.Cpu.InstructionsRetired);
        ExpectStep(m, TestMachine.CodeBase + 4);
    }

    /// <summary>Nothing armed: the debug step is not taken.</summary>
    [Fact]
    public void DisarmingDr7LeavesNothingArmed()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 0x4FF);
            a.mov(dr7, rax);
            a.mov(eax, 0x400);
            a.mov(dr7, rax);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0u, m.Cpu.DebugArmed);
    }
}
