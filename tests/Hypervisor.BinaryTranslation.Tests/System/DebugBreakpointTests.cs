using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>
/// DR0-DR3 breakpoints armed through DR7 (Intel SDM Vol. 3, 19.2.4-19.2.5, 19.3.1): instruction breakpoints are
/// faults before the instruction, data and I/O breakpoints traps after it; DR6.B0-B3 name the conditions.
/// </summary>
public class DebugBreakpointTests
{
    private const ulong Dr6Clear = 0xFFFF_0FF0;
    private const ulong Data = 0x3000;

    /// <summary>DR7 for breakpoint n: L bit, R/W and LEN fields.</summary>
    private static ulong Dr7(int n, int rw, int len) => 0x400 | 1UL << (2 * n) | (ulong)rw << (16 + 4 * n) | (ulong)len << (18 + 4 * n);

    private static void Arm(TestMachine m, ulong dr7, params ulong[] addresses)
    {
        var a = m.Cpu.Architectural;
        for (int i = 0; i < addresses.Length; i++)
        {
            switch (i)
            {
                case 0: a.Dr0 = addresses[i]; break;
                case 1: a.Dr1 = addresses[i]; break;
                case 2: a.Dr2 = addresses[i]; break;
                default: a.Dr3 = addresses[i]; break;
            }
        }
        a.Dr7 = dr7;
        DebugBreakpoints.Refresh(m.Cpu);
    }

    private static void ExpectDebug(TestMachine m, ulong rip, ulong dr6)
    {
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.Debug, m.Cpu.Exception.Vector);
        Assert.Equal(rip, m.Cpu.Rip);
        Assert.Equal(dr6, m.Cpu.Architectural.Dr6);
    }

    [Fact]
    public void InstructionBreakpointFaultsBeforeTheInstructionAndRfResumes()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.nop();
            a.mov(eax, 7);
            a.nop();
        });
        Arm(m, Dr7(0, 0, 0), TestMachine.CodeBase + 1);
        ExpectDebug(m, TestMachine.CodeBase + 1, Dr6Clear | 1);
        Assert.Equal(0UL, m.Cpu.Gpr(0));
        Assert.Equal(0UL, m.Cpu.Rflags & FlagBits.RF);
        // What a handler does: return with RF = 1 in the image. The instruction runs once; RF is then clear.
        m.Cpu.Rflags |= FlagBits.RF;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(7UL, m.Cpu.Gpr(0));
        Assert.Equal(0UL, m.Cpu.Rflags & FlagBits.RF);
    }

    [Fact]
    public void MovDr7EndsTheBlockSoTheNextInstructionCanHitIt()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(dr7, rax);
            a.nop();
        });
        m.Cpu.Architectural.Dr0 = TestMachine.CodeBase + 3;
        m.Cpu.Gpr(0) = Dr7(0, 0, 0);
        ExpectDebug(m, TestMachine.CodeBase + 3, Dr6Clear | 1);
    }

    /// <summary>A breakpoint that matches while not enabled reports its Bn with the enabled one; B0-B3 are rewritten.</summary>
    [Fact]
    public void MatchingDisabledBreakpointsAreReportedWithAnEnabledOne()
    {
        using var m = new TestMachine();
        m.Load(a => a.nop());
        m.Cpu.Architectural.Dr6 = Dr6Clear | 0x8 | 1UL << 14;
        Arm(m, Dr7(0, 0, 0), TestMachine.CodeBase, TestMachine.CodeBase);
        ExpectDebug(m, TestMachine.CodeBase, Dr6Clear | 1UL << 14 | 3);
    }

    [Fact]
    public void DisabledBreakpointsNeverFire()
    {
        using var m = new TestMachine();
        m.Load(a => a.nop());
        Arm(m, 0x400 | 0x3UL << 16, TestMachine.CodeBase);
        Assert.Equal(RunExit.Halted, m.Run());
    }

    /// <summary>R/W = 01: stores trap after the instruction, loads do not; LEN 4 masks the low address bits.</summary>
    [Fact]
    public void DataWriteBreakpointTrapsAfterStoresToItsAlignedRange()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, __dword_ptr[rbx]);
            a.mov(__byte_ptr[rbx + 3], 1);
            a.mov(__byte_ptr[rbx + 4], 1);
            a.mov(__word_ptr[rbx - 1], 1);
        });
        m.Cpu.Gpr(3) = Data;
        Arm(m, Dr7(1, 1, 3), 0, Data + 2);
        ExpectDebug(m, TestMachine.CodeBase + 2 + 4, Dr6Clear | 2);
        Assert.Equal(1, ReadByte(m, Data + 3));
        ExpectDebug(m, TestMachine.CodeBase + 2 + 4 + 4 + 6, Dr6Clear | 2);
        Assert.Equal(RunExit.Halted, m.Run());
    }

    /// <summary>A watched page never enters the TLB: every access to it is compared, not only the first.</summary>
    [Fact]
    public void RepeatedStoresEachTrap()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(__byte_ptr[rbx], al);
            a.mov(__byte_ptr[rbx], al);
            a.mov(__byte_ptr[rbx + 0x800], al);
        });
        m.Cpu.Gpr(3) = Data;
        Arm(m, Dr7(2, 1, 0), 0, 0, Data);
        ExpectDebug(m, TestMachine.CodeBase + 2, Dr6Clear | 4);
        ExpectDebug(m, TestMachine.CodeBase + 4, Dr6Clear | 4);
        Assert.Equal(RunExit.Halted, m.Run());
    }

    /// <summary>R/W = 11 traps on loads too; LEN 10 covers 8 bytes.</summary>
    [Fact]
    public void ReadWriteBreakpointWithLength8TrapsOnLoads()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(al, __byte_ptr[rbx + 8]);
            a.mov(al, __byte_ptr[rbx + 7]);
            a.mov(al, __byte_ptr[rbx + 0xF]);
        });
        m.Cpu.Gpr(3) = Data;
        Arm(m, Dr7(3, 3, 2), 0, 0, 0, Data + 8 + 5);
        ExpectDebug(m, TestMachine.CodeBase + 3, Dr6Clear | 8);
        ExpectDebug(m, TestMachine.CodeBase + 9, Dr6Clear | 8);
    }

    [Fact]
    public void PushToAWatchedStackSlotTraps()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.push(rax);
            a.pop(rax);
        });
        Arm(m, Dr7(0, 1, 2), TestMachine.StackTop - 8);
        ExpectDebug(m, TestMachine.CodeBase + 1, Dr6Clear | 1);
    }

    /// <summary>A data breakpoint hit inside REP STOSB: the trap follows that iteration, RIP on the instruction.</summary>
    [Fact]
    public void DataBreakpointInRepStringTrapsAfterTheIteration()
    {
        using var m = new TestMachine();
        m.Load(a => a.rep.stosb());
        m.Cpu.Gpr(1) = 16;
        m.Cpu.Gpr(7) = Data;
        Arm(m, Dr7(0, 1, 0), Data + 5);
        ExpectDebug(m, TestMachine.CodeBase, Dr6Clear | 1);
        Assert.Equal(10UL, m.Cpu.Gpr(1));
        Assert.NotEqual(0UL, m.Cpu.Rflags & FlagBits.RF);
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0UL, m.Cpu.Gpr(1));
    }

    /// <summary>R/W = 10 (I/O) matches port accesses only while CR4.DE = 1.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void IoBreakpointNeedsCr4De(bool de)
    {
        using var m = new TestMachine(io: new RecordingIo());
        m.Load(a =>
        {
            a.@out(0x80, al);
            a.@out(0x82, al);
        });
        if (de) m.Cpu.Architectural.Cr4 |= ControlRegisters.Cr4De;
        Arm(m, Dr7(1, 2, 1), 0, 0x80);
        if (!de)
        {
            Assert.Equal(RunExit.Halted, m.Run());
            return;
        }
        ExpectDebug(m, TestMachine.CodeBase + 2, Dr6Clear | 2);
        Assert.Equal(RunExit.Halted, m.Run());
    }

    /// <summary>REP OUTSB through a watched port: the trap follows the first iteration, RIP on the instruction.</summary>
    [Fact]
    public void IoBreakpointInRepOutsTrapsAfterTheIteration()
    {
        var io = new RecordingIo();
        using var m = new TestMachine(io: io);
        m.Load(a => a.rep.outsb());
        m.Cpu.Architectural.Cr4 |= ControlRegisters.Cr4De;
        m.Cpu.Gpr(1) = 4;
        m.Cpu.Gpr(2) = 0x80;
        m.Cpu.Gpr(6) = Data;
        Arm(m, Dr7(0, 2, 0), 0x80);
        ExpectDebug(m, TestMachine.CodeBase, Dr6Clear | 1);
        Assert.Equal(3UL, m.Cpu.Gpr(1));
        Assert.Single(io.Writes);
    }

    /// <summary>A data breakpoint hit by MOV SS itself is held until after the next instruction (SDM Vol. 3, 6.8.3).</summary>
    [Fact]
    public void DataBreakpointHitByMovSsIsDeliveredAfterTheNextInstruction()
    {
        using var m = new TestMachine(16);
        m.Load(a =>
        {
            a.mov(ss, __word_ptr[bx]);
            a.nop();
            a.nop();
        }, bits: 16);
        m.Cpu.Gpr(3) = Data;
        Arm(m, Dr7(0, 3, 1), Data);
        ExpectDebug(m, TestMachine.CodeBase + 3, Dr6Clear | 1);
    }

    [Fact]
    public void CpuidAdvertisesDeAndCr4DeMakesDr4Undefined()
    {
        using var m = new TestMachine();
        Assert.NotEqual(0u, m.Cpu.Cpuid.Query(1, 0).Edx & 1u << 2);
        m.Load(a =>
        {
            a.mov(rax, cr4);
            a.or(eax, 8);
            a.mov(cr4, rax);
            a.mov(rbx, dr4);
        });
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.InvalidOpcode, m.Cpu.Exception.Vector);
        Assert.NotEqual(0UL, m.Cpu.Architectural.Cr4 & ControlRegisters.Cr4De);
    }

    private static byte ReadByte(TestMachine m, ulong address)
    {
        var b = new byte[1];
        m.Memory.Read(address, b);
        return b[0];
    }
}
