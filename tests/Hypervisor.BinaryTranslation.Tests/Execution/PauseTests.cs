using Hypervisor.BinaryTranslation.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Execution;

/// <summary>
/// PAUSE is a NOP to the architecture but the spin-wait hint a turn-taking backend acts on: it ends its block, and
/// with <see cref="Interpreter.YieldOnPause"/> the run returns after it, with the instruction retired.
/// </summary>
public class PauseTests
{
    [Fact]
    public void PauseReturnsYieldedAfterTheInstructionWhenAsked()
    {
        using var m = new TestMachine();
        m.Interpreter.YieldOnPause = true;
        m.Load(a =>
        {
            a.mov(eax, 1);
            a.pause();
            a.mov(ebx, 2);
        });
        Assert.Equal(RunExit.Yielded, m.Run());
        Assert.Equal(1UL, m.Cpu.Gpr(0));
        Assert.Equal(0UL, m.Cpu.Gpr(3)); // the block ended at PAUSE
        Assert.Equal(TestMachine.CodeBase + 5 + 2, m.Cpu.Rip); // mov eax, imm32 (5 bytes), F3 90
        Assert.Equal(2, m.Cpu.InstructionsRetired);

        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(2UL, m.Cpu.Gpr(3));
        Assert.Equal(4, m.Cpu.InstructionsRetired);
    }

    [Fact]
    public void WithoutYieldOnPauseASpinLoopRunsToTheEnd()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            var loop = a.CreateLabel();
            a.mov(ecx, 100);
            a.Label(ref loop);
            a.pause();
            a.dec(ecx);
            a.jnz(loop);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0UL, m.Cpu.Gpr(1));
        Assert.Equal(1 + 300 + 1, m.Cpu.InstructionsRetired);
    }

    [Fact]
    public void EveryPauseOfASpinLoopYields()
    {
        using var m = new TestMachine();
        m.Interpreter.YieldOnPause = true;
        m.Load(a =>
        {
            var loop = a.CreateLabel();
            a.mov(ecx, 3);
            a.Label(ref loop);
            a.dec(ecx);
            a.pause();
            a.jnz(loop); // PAUSE leaves the flags of DEC alone
        });
        for (int i = 0; i < 3; i++) Assert.Equal(RunExit.Yielded, m.Run());
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0UL, m.Cpu.Gpr(1));
    }

    [Fact]
    public void PauseInRealModeAndUnderTrapFlagStepsYieldToo()
    {
        using var m = new TestMachine(bits: 16);
        m.Interpreter.YieldOnPause = true;
        m.Load(a =>
        {
            a.pause();
            a.nop();
        }, bits: 16);
        Assert.Equal(RunExit.Yielded, m.Run());
        Assert.Equal(TestMachine.CodeBase + 2, m.Cpu.Rip);

        // The debug step (RF set: one instruction at a time) reports the yield as the block loop does.
        m.Cpu.Rip = TestMachine.CodeBase;
        m.Cpu.Rflags |= Flags.FlagBits.RF;
        Assert.Equal(RunExit.Yielded, m.Run());
        Assert.Equal(TestMachine.CodeBase + 2, m.Cpu.Rip);
        Assert.Equal(0UL, m.Cpu.Rflags & Flags.FlagBits.RF);
    }
}
