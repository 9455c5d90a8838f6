using Hypervisor.BinaryTranslation.Execution;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Execution;

public class SelfModifyingCodeTests
{
    /// <summary>
    /// Each iteration stores CL into the immediate of the very next instruction, inside the executing block:
    /// the sum is only right if every iteration executes the freshly written bytes.
    /// </summary>
    [Fact]
    public void LoopRewritingItsNextInstructionExecutesTheNewBytes()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            var loop = a.CreateLabel();
            var patch = a.CreateLabel();
            a.mov(ecx, 10);
            a.xor(ebx, ebx);
            a.lea(rdx, __[patch]);
            a.Label(ref loop);
            a.mov(__byte_ptr[rdx + 1], cl);
            a.Label(ref patch);
            a.mov(eax, 0x1234_5600);
            a.add(ebx, eax);
            a.dec(ecx);
            a.jnz(loop);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.True(m.Interpreter.Cache.Invalidations >= 10, $"invalidations {m.Interpreter.Cache.Invalidations}");
        // sum over cl = 10..1 of 0x12345600 | cl
        Assert.Equal((ulong)(uint)(10L * 0x1234_5600 + 55), m.Cpu.Gpr(3));
        Assert.True(m.Interpreter.Cache.Invalidations >= 10);
    }

    [Fact]
    public void StoreIntoAnotherCachedBlockIsSeenOnItsNextExecution()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            var loop = a.CreateLabel();
            var callee = a.CreateLabel();
            var done = a.CreateLabel();
            a.mov(ecx, 3);
            a.xor(ebx, ebx);
            a.lea(rdx, __[callee]);
            a.Label(ref loop);
            a.call(callee);
            a.add(ebx, eax);
            // Overwrite the callee's immediate: mov eax, imm32 is B8 + imm32.
            a.add(__dword_ptr[rdx + 1], 100);
            a.dec(ecx);
            a.jnz(loop);
            a.jmp(done);
            a.Label(ref callee);
            a.mov(eax, 1);
            a.ret();
            a.Label(ref done);
        });
        var exit = m.Run();
        Assert.True(exit == RunExit.Halted, $"{exit} vector {m.Cpu.Exception.Vector} at {m.Cpu.Rip:x}");
        Assert.Equal(1UL + 101 + 201, m.Cpu.Gpr(3));
    }

    [Fact]
    public void DeviceWriteToCodeIsSeenAtTheNextBlockBoundary()
    {
        using var m = new TestMachine();
        m.Load(a => a.mov(eax, 1));
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(1UL, m.Cpu.Gpr(0));
        // A "DMA" write of new code over the cached block.
        var asm = new Assembler(64);
        asm.mov(eax, 2);
        asm.hlt();
        var bytes = new List<byte>();
        asm.Assemble(new ListWriter(bytes), TestMachine.CodeBase);
        m.Memory.Write(TestMachine.CodeBase, bytes.ToArray());
        m.Cpu.Rip = TestMachine.CodeBase;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(2UL, m.Cpu.Gpr(0));
    }

    private sealed class ListWriter(List<byte> bytes) : CodeWriter
    {
        public override void WriteByte(byte value) => bytes.Add(value);
    }
}
