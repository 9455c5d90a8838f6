using BenchmarkDotNet.Attributes;
using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Memory;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.Benchmarks.BinaryTranslation;

/// <summary>
/// The tier-0 interpreter's inner loop on cached blocks, in guest instructions per second: each benchmark
/// runs an endless guest loop for <see cref="Instructions"/> instructions (OperationsPerInvoke), so the
/// reported time per operation is the time per guest instruction.
/// </summary>
[MemoryDiagnoser]
public class InterpreterBenchmarks
{
    public const int Instructions = 1_000_000;
    private const ulong Code = 0x1000, Data = 0x10_0000;

    private GuestMemory _memory = null!;
    private CpuContext _cpu = null!;
    private Interpreter _interpreter = null!;
    private ulong _straight, _memoryLoop, _branchy, _strings;

    [GlobalSetup]
    public void Setup()
    {
        _memory = new GuestMemory();
        _memory.AddRam(0, 4 << 20, "ram");
        _cpu = new CpuContext(new AddressSpace(_memory));
        var s = CpuState.CreateReset();
        s.Cr0 = 0x8000_0011;
        s.Efer = 0x500;
        s.Cr4 = 0x620;
        s.Cr3 = BuildIdentityPageTables(_memory);
        s.Cs = SegmentRegister.Flat(8, true, longMode: true);
        s.Ds = s.Es = s.Ss = SegmentRegister.Flat(0x10, false);
        s.Rsp = 0x8_0000;
        _cpu.Load(s);
        _interpreter = new Interpreter(_cpu);

        ulong at = Code;
        _straight = at;
        at = Emit(at, StraightLine);
        _memoryLoop = at = (at + 0xFF) & ~0xFFUL;
        at = Emit(at, MemoryHeavy);
        _branchy = at = (at + 0xFF) & ~0xFFUL;
        at = Emit(at, Branchy);
        _strings = at = (at + 0xFF) & ~0xFFUL;
        Emit(at, StringLoop);
    }

    /// <summary>4-level tables mapping the first 1 GiB with 2 MiB pages (linear = physical); returns CR3.</summary>
    private static ulong BuildIdentityPageTables(GuestMemory memory)
    {
        const ulong pml4 = 0x30_0000, pdpt = pml4 + 0x1000, pd = pml4 + 0x2000, flags = 0x3; // present, writable
        memory.Write(pml4, pdpt | flags);
        memory.Write(pdpt, pd | flags);
        for (ulong i = 0; i < 512; i++) memory.Write(pd + i * 8, (i << 21) | flags | 0x80);
        return pml4;
    }

    /// <summary>Register-only integer code: ALU, shifts, LEA, MOV, INC/DEC; a taken branch every ~100.</summary>
    private static void StraightLine(Assembler a)
    {
        var top = a.CreateLabel();
        a.Label(ref top);
        for (int i = 0; i < 12; i++)
        {
            a.add(rax, rbx);
            a.xor(rcx, rax);
            a.lea(rdx, __[rax + rcx * 4 + 8]);
            a.sub(ebx, edx);
            a.shl(rsi, 3);
            a.or(rsi, rdx);
            a.inc(rdi);
            a.mov(r8, rdi);
        }
        a.jmp(top);
    }

    /// <summary>A loop summing and rewriting a 4 KiB array: loads, read-modify-write stores, a compare and branch.</summary>
    private static void MemoryHeavy(Assembler a)
    {
        var outer = a.CreateLabel();
        var inner = a.CreateLabel();
        a.Label(ref outer);
        a.mov(rsi, Data);
        a.mov(ecx, 512);
        a.Label(ref inner);
        a.mov(rax, __qword_ptr[rsi]);
        a.add(rbx, rax);
        a.add(__qword_ptr[rsi + 8], rbx);
        a.mov(__dword_ptr[rsi + 0x1000], eax);
        a.add(rsi, 8);
        a.dec(ecx);
        a.jnz(inner);
        a.jmp(outer);
    }

    /// <summary>Data-dependent branches: a Collatz walk with a conditional branch per step.</summary>
    private static void Branchy(Assembler a)
    {
        var restart = a.CreateLabel();
        var step = a.CreateLabel();
        var odd = a.CreateLabel();
        a.mov(rbx, 27);
        a.Label(ref restart);
        a.inc(rbx);
        a.mov(rax, rbx);
        a.Label(ref step);
        a.cmp(rax, 1);
        a.je(restart);
        a.test(al, 1);
        a.jnz(odd);
        a.shr(rax, 1);
        a.jmp(step);
        a.Label(ref odd);
        a.lea(rax, __[rax + rax * 2 + 1]);
        a.jmp(step);
    }

    /// <summary>Non-repeated string instructions (LODSQ/STOSQ/MOVSB) in a counted loop over a 2 KiB buffer.</summary>
    private static void StringLoop(Assembler a)
    {
        var outer = a.CreateLabel();
        var inner = a.CreateLabel();
        a.Label(ref outer);
        a.mov(rsi, Data);
        a.mov(rdi, Data + 0x2000);
        a.mov(ecx, 256);
        a.Label(ref inner);
        a.lodsq();
        a.stosq();
        a.movsb();
        a.dec(ecx);
        a.jnz(inner);
        a.jmp(outer);
    }

    private ulong Emit(ulong at, Action<Assembler> build)
    {
        var a = new Assembler(64);
        build(a);
        var bytes = new List<byte>();
        a.Assemble(new ListWriter(bytes), at);
        _memory.Load(at, bytes.ToArray());
        return at + (ulong)bytes.Count;
    }

    private RunExit RunFrom(ulong rip)
    {
        _cpu.Rip = rip;
        var exit = _interpreter.Run(Instructions);
        if (exit != RunExit.BudgetExhausted) throw new InvalidOperationException($"guest stopped: {exit}");
        return exit;
    }

    [Benchmark(OperationsPerInvoke = Instructions)]
    public RunExit StraightLineIntegers() => RunFrom(_straight);

    [Benchmark(OperationsPerInvoke = Instructions)]
    public RunExit MemoryHeavyLoop() => RunFrom(_memoryLoop);

    [Benchmark(OperationsPerInvoke = Instructions)]
    public RunExit BranchyLoop() => RunFrom(_branchy);

    [Benchmark(OperationsPerInvoke = Instructions)]
    public RunExit StringInstructions() => RunFrom(_strings);

    [GlobalCleanup]
    public void Cleanup() => _memory.Dispose();

    private sealed class ListWriter(List<byte> bytes) : CodeWriter
    {
        public override void WriteByte(byte value) => bytes.Add(value);
    }
}
