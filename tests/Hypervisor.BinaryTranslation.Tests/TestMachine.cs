using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Memory;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;
using Iced.Intel;
using IdentityPaging = Hypervisor.BinaryTranslation.Tests.Memory.IdentityPaging;

namespace Hypervisor.BinaryTranslation.Tests;

/// <summary>A flat 64-bit (or 32/16-bit) guest with RAM at 0, for tests that run assembled code.</summary>
public sealed class TestMachine : IDisposable
{
    public const ulong CodeBase = 0x1000;
    public const ulong StackTop = 0x80000;

    public TestMachine(int bits = 64, ulong ramSize = 1 << 20, int cpl = 0, Hypervisor.Platform.Io.IIoHandler? io = null)
    {
        Memory = new GuestMemory();
        Memory.AddRam(0, ramSize, "ram");
        Space = new AddressSpace(Memory, io);
        Cpu = new CpuContext(Space);
        var state = InitialState(bits, cpl);
        IdentityPaging.Install(Memory, state);
        Cpu.Load(state);
        Interpreter = new Interpreter(Cpu);
    }

    public GuestMemory Memory { get; }
    public AddressSpace Space { get; }
    public CpuContext Cpu { get; }
    public Interpreter Interpreter { get; }

    public static CpuState InitialState(int bits, int cpl)
    {
        var s = CpuState.CreateReset();
        s.Rdx = 0;
        if (bits == 16)
        {
            s.Cs = SegmentRegister.RealMode(0, true);
            s.Rip = CodeBase;
            s.Rsp = 0xFFF0;
            return s;
        }
        s.Cr0 = 0x8000_0011;
        // OSFXSR | OSXMMEXCPT, as every SSE-using operating system sets them.
        s.Cr4 = 0x600;
        if (bits == 64) s.Efer = 0x500;
        s.Cs = SegmentRegister.Flat(cpl == 3 ? (ushort)0x33 : (ushort)0x8, true, longMode: bits == 64);
        s.Cs.Dpl = (byte)cpl;
        s.Ds = s.Es = s.Ss = s.Fs = s.Gs = SegmentRegister.Flat(cpl == 3 ? (ushort)0x2B : (ushort)0x10, false);
        s.Ss.Dpl = s.Ds.Dpl = s.Es.Dpl = (byte)cpl;
        s.Rip = CodeBase;
        s.Rsp = StackTop;
        return s;
    }

    /// <summary>Assembles code with Iced at <see cref="CodeBase"/>, followed by HLT, and loads it.</summary>
    public void Load(Action<Assembler> build, int bits = 64, ulong at = CodeBase)
    {
        var asm = new Assembler(bits);
        build(asm);
        asm.hlt();
        var writer = new CodeWriterImpl();
        asm.Assemble(writer, at);
        Memory.Load(at, writer.ToArray());
    }

    public RunExit Run(long budget = 10_000_000) => Interpreter.Run(budget);

    public void Dispose() => Memory.Dispose();

    private sealed class CodeWriterImpl : CodeWriter
    {
        private readonly List<byte> _bytes = new();
        public override void WriteByte(byte value) => _bytes.Add(value);
        public byte[] ToArray() => _bytes.ToArray();
    }
}
