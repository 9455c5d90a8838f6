using Hypervisor.BinaryTranslation.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Execution;

public class InterpreterTests
{
    [Fact]
    public void SumLoopComputesTriangularNumber()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            var loop = a.CreateLabel();
            a.mov(ecx, 1000);
            a.xor(eax, eax);
            a.Label(ref loop);
            a.add(rax, rcx);
            a.dec(ecx);
            a.jnz(loop);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(500500UL, m.Cpu.Gpr(0));
        Assert.Equal(0UL, m.Cpu.Gpr(1));
        // mov, xor, 1000 x (add, dec, jnz), hlt
        Assert.Equal(2 + 3000 + 1, m.Cpu.InstructionsRetired);
    }
}
