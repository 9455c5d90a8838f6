using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Memory;

/// <summary>The interpreter running code with 4-level paging on: high-half code, a mapped stack, #PF from a store.</summary>
public class PagedExecutionTests
{
    private const ulong Code = 0xFFFF_8000_0010_0000, Stack = 0xFFFF_8000_0020_0000;
    private const ulong Rw = 0x7F00_0000_0000, Ro = 0x7F00_0000_1000;

    private static PagingFixture Build(ulong codeFlags)
    {
        var f = new PagingFixture();
        f.Map4(Code, 0x2000, codeFlags);
        f.Map4(Stack - 0x1000, 0x3000, 3);
        f.Map4(Rw, 0x4000, 7);
        f.Map4(Ro, 0x5000, 5);
        f.Memory.Write(0x4000UL, 41UL);
        return f;
    }

    private delegate void Emit(Assembler a, ref Label mark);

    /// <summary>Assembles at <see cref="Code"/>, ending with HLT; returns the address of the label the code places.</summary>
    private static ulong Assemble(PagingFixture f, Emit build)
    {
        var a = new Assembler(64);
        var mark = a.CreateLabel();
        build(a, ref mark);
        a.hlt();
        var writer = new BytesWriter();
        var result = a.Assemble(writer, Code, BlockEncoderOptions.ReturnNewInstructionOffsets);
        f.Memory.Load(0x2000, writer.Bytes.ToArray());
        return result.GetLabelRIP(mark);
    }

    [Fact]
    public void StoreToReadOnlyPageFaultsAtTheInstructionWithCr2AndErrorCode()
    {
        using var f = Build(3);
        ulong faulting = Assemble(f, (Assembler a, ref Label mark) =>
        {
            a.mov(rdi, Rw);
            a.mov(rax, __[rdi]);
            a.add(rax, 1);
            a.push(rax);
            a.pop(rbx);
            a.mov(__[rdi + 8], rbx);
            a.mov(rsi, Ro);
            a.mov(rcx, __[rsi]);
            a.Label(ref mark);
            a.mov(__[rsi], rbx);
        });
        f.Enter(PagingMode.FourLevel, wp: true);
        f.Cpu.Rip = Code;
        f.Cpu.Gpr(4) = Stack;
        var interpreter = new Interpreter(f.Cpu);

        Assert.Equal(RunExit.Exception, interpreter.Run(1000));
        Assert.Equal(Vectors.PageFault, f.Cpu.Exception.Vector);
        Assert.Equal(3u, f.Cpu.Exception.ErrorCode); // present, write, supervisor
        Assert.Equal(Ro, f.Cpu.Exception.FaultAddress);
        Assert.Equal(faulting, f.Cpu.Rip);
        Assert.Equal(42UL, f.Read64(0x4008));
        Assert.Equal(42UL, f.Cpu.Gpr(3));
        Assert.Equal(0x60UL, f.Read64(f.Entry4Address(Rw, 1)) & 0x60); // accessed and dirty
        Assert.Equal(0x20UL, f.Read64(f.Entry4Address(Ro, 1)) & 0x60); // accessed only

        // The kernel makes the page writable and resumes: the store retires.
        f.Memory.Write(f.Entry4Address(Ro, 1), 0x5000UL | 7);
        f.Cpu.InvalidatePage(Ro);
        Assert.Equal(RunExit.Halted, interpreter.Run(1000));
        Assert.Equal(42UL, f.Read64(0x5000));
    }

    [Fact]
    public void UserCodeOnASupervisorPageFaultsOnFetch()
    {
        using var f = Build(3);
        Assemble(f, (Assembler a, ref Label mark) =>
        {
            a.Label(ref mark);
            a.nop();
        });
        f.Enter(PagingMode.FourLevel, cpl: 3, nxe: true);
        f.Cpu.Rip = Code;
        var interpreter = new Interpreter(f.Cpu);
        Assert.Equal(RunExit.Exception, interpreter.Run(10));
        Assert.Equal(Vectors.PageFault, f.Cpu.Exception.Vector);
        Assert.Equal(0x15u, f.Cpu.Exception.ErrorCode); // present, user, instruction fetch
        Assert.Equal(Code, f.Cpu.Exception.FaultAddress);
    }

    [Fact]
    public void RemappingTheCodePageAndFlushingRunsTheNewCode()
    {
        using var f = Build(3);
        Assemble(f, (Assembler a, ref Label mark) =>
        {
            a.Label(ref mark);
            a.mov(eax, 1);
        });
        f.Memory.Load(0x6000, [0xB8, 2, 0, 0, 0, 0xF4]); // mov eax, 2; hlt
        f.Enter(PagingMode.FourLevel);
        f.Cpu.Rip = Code;
        var interpreter = new Interpreter(f.Cpu);
        Assert.Equal(RunExit.Halted, interpreter.Run(10));
        Assert.Equal(1UL, f.Cpu.Gpr(0));

        f.Memory.Write(f.Entry4Address(Code, 1), 0x6000UL | 3);
        f.Cpu.FlushTlb();
        f.Cpu.Rip = Code;
        Assert.Equal(RunExit.Halted, interpreter.Run(10));
        Assert.Equal(2UL, f.Cpu.Gpr(0));
    }

    private sealed class BytesWriter : CodeWriter
    {
        public List<byte> Bytes { get; } = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
