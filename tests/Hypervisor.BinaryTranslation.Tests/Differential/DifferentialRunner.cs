using global::System.Text;
using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Memory;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Memory;
using Iced.Intel;
using IdentityPaging = Hypervisor.BinaryTranslation.Tests.Memory.IdentityPaging;

namespace Hypervisor.BinaryTranslation.Tests.Differential;

/// <summary>
/// Runs a <see cref="TestCase"/> natively and in the interpreter (single-stepped, CPL 3 in 64-bit mode, like the
/// host process) and compares GPRs, RIP, the defined RFLAGS bits, the data area and the stack.
/// </summary>
public sealed class DifferentialRunner : IDisposable
{
    /// <summary>CF PF AF ZF SF TF IF DF OF IOPL NT AC ID: every RFLAGS bit user code can observe.</summary>
    public const ulong ComparedFlags = 0x247FD5;

    private readonly NativeRunner _native = new();
    private readonly GuestMemory _memory = new();
    private readonly CpuContext _cpu;
    private readonly Interpreter _interpreter;

    public DifferentialRunner()
    {
        _memory.AddRam(_native.Base, NativeRunner.Size, "differential");
        _cpu = new CpuContext(new AddressSpace(_memory));
        var state = TestMachine.InitialState(64, cpl: 3);
        IdentityPaging.Install(_memory, state);
        _cpu.Load(state);
        _interpreter = new Interpreter(_cpu) { SingleStep = true };
    }

    public InstructionGenerator CreateGenerator(int seed) =>
        new(_native.Slot, _native.Pad, _native.Data, _native.StackTop, seed);

    /// <summary>Null when both agree, else a description of every difference.</summary>
    public string? Run(TestCase t)
    {
        // Emulator.
        _memory.Load(_native.Slot, t.Code);
        _memory.Write(_native.Data, t.Data);
        _memory.Write(_native.Base + NativeRunner.StackImageOffset, t.Stack);
        for (int i = 0; i < 16; i++) _cpu.Gpr(i) = t.Gprs[i];
        _cpu.Rflags = t.Rflags;
        _cpu.CcOp = 0;
        _cpu.Rip = _native.Slot;
        _cpu.LoadX87State(t.FxSave);
        _cpu.LoadSseState(t.FxSave);
        var exit = _interpreter.Run(1);

        if (t.ExpectDivideError)
        {
            if (exit != RunExit.Exception || _cpu.Exception.Vector != Vectors.DivideError || _cpu.Rip != _native.Slot)
                return $"{t}\n  expected #DE, emulator: {exit} vector {_cpu.Exception.Vector} rip {_cpu.Rip:x}";
            for (int i = 0; i < 16; i++)
                if (_cpu.Gpr(i) != t.Gprs[i]) return $"{t}\n  #DE changed {(Register.RAX + i)}";
            return null;
        }
        if (exit != RunExit.BudgetExhausted)
            return $"{t}\n  emulator stopped with {exit} (vector {_cpu.Exception.Vector}), " +
                   $"unimplemented: {string.Join(",", _interpreter.Decoder.Unimplemented)}";

        // Host CPU.
        t.Data.CopyTo(_native.Bytes(NativeRunner.DataOffset, NativeRunner.DataSize));
        t.Stack.CopyTo(_native.Bytes(NativeRunner.StackImageOffset, NativeRunner.StackImageSize));
        _native.SetInstruction(t.Code);
        t.FxSave.CopyTo(_native.FxImage);
        Span<ulong> gprs = stackalloc ulong[16];
        t.Gprs.CopyTo(gprs);
        ulong flags = t.Rflags;
        bool taken = _native.Run(gprs, ref flags);

        var sb = new StringBuilder();
        for (int i = 0; i < 16; i++)
        {
            if ((t.UndefinedRegisters & (1 << i)) != 0) continue;
            if (gprs[i] != _cpu.Gpr(i))
                sb.Append($"\n  {(Register.RAX + i)}: host {gprs[i]:x} emulator {_cpu.Gpr(i):x}");
        }
        ulong mask = ComparedFlags & ~t.UndefinedFlags;
        ulong emuFlags = _cpu.GetRflags();
        if ((flags & mask) != (emuFlags & mask))
            sb.Append($"\n  rflags: host {flags & mask:x} emulator {emuFlags & mask:x} (mask {mask:x})");
        ulong expectedRip = taken ? _native.Pad : _native.Slot + (ulong)t.Code.Length;
        if (_cpu.Rip != expectedRip)
            sb.Append($"\n  rip: host {(taken ? "taken" : "fall-through")} {expectedRip:x} emulator {_cpu.Rip:x}");
        Span<byte> emuFx = stackalloc byte[512];
        _cpu.SaveSseState(emuFx);
        _cpu.SaveX87State(emuFx);
        Span<byte> hostFx = stackalloc byte[512];
        _native.FxImage.CopyTo(hostFx);
        // MXCSR_MASK describes the CPU model (host 0x2FFFF with AMD's misaligned-SSE bit, engine 0xFFFF).
        emuFx.Slice(28, 4).CopyTo(hostFx[28..]);
        // x87: FCW, FSW (TOP, condition codes, flags), abridged tags, FOP/FIP/FDP and ST0-ST7 as FXSAVE stores them.
        if (t.X87UlpTolerance && X87Tolerance.WithinOneUlp(hostFx, emuFx))
        {
            // The registers differ by at most 1 ulp: C1 ("rounded up") may then differ too.
            hostFx.Slice(32, 128).CopyTo(emuFx[32..]);
            emuFx[3] = (byte)((emuFx[3] & ~0x02) | (hostFx[3] & 0x02));
        }
        for (int i = 0; i < 160; i += 16)
        {
            var h = hostFx.Slice(i, 16);
            var e = emuFx.Slice(i, 16);
            if (!h.SequenceEqual(e))
                sb.Append($"\n  fx[{i}]: host {Convert.ToHexString(h)} emulator {Convert.ToHexString(e)}");
        }
        for (int i = 0; i < 16; i++)
        {
            var h = hostFx.Slice(160 + 16 * i, 16);
            var e = emuFx.Slice(160 + 16 * i, 16);
            if (!h.SequenceEqual(e))
                sb.Append($"\n  XMM{i}: host {Convert.ToHexString(h)} emulator {Convert.ToHexString(e)}");
        }
        uint hostMxcsr = BitConverter.ToUInt32(hostFx[24..]), emuMxcsr = BitConverter.ToUInt32(emuFx[24..]);
        if (hostMxcsr != emuMxcsr) sb.Append($"\n  MXCSR: host {hostMxcsr:x} emulator {emuMxcsr:x}");
        if (t.IgnoredData.Length > 0)
            _memory.GetReadOnlySpan(_native.Data + (ulong)t.IgnoredData.Offset, t.IgnoredData.Length)
                .CopyTo(_native.Bytes(NativeRunner.DataOffset + t.IgnoredData.Offset, t.IgnoredData.Length));
        if (!t.UndefinedMemory) Compare(sb, "data", _native.Data, NativeRunner.DataOffset, NativeRunner.DataSize);
        Compare(sb, "stack", _native.Base + NativeRunner.StackImageOffset, NativeRunner.StackImageOffset, NativeRunner.StackImageSize);
        if (sb.Length != 0 && IsX87(t.Instruction))
        {
            // The x87 inputs: FCW, FSW, abridged tags, ST0-ST2.
            var fx = t.FxSave;
            sb.Append($"\n  x87 in: fcw {BitConverter.ToUInt16(fx):x4} fsw {BitConverter.ToUInt16(fx, 2):x4} tags {fx[4]:x2}");
            for (int i = 0; i < 3; i++) sb.Append($" st{i} {Convert.ToHexString(fx, 32 + 16 * i, 10)}");
        }
        return sb.Length == 0 ? null : t + sb.ToString();
    }

    private static bool IsX87(in Instruction ins) => ins.Mnemonic.ToString()[0] == 'F';

    private void Compare(StringBuilder sb, string what, ulong address, int offset, int length)
    {
        var host = _native.Bytes(offset, length);
        var emu = _memory.GetReadOnlySpan(address, length);
        if (host.SequenceEqual(emu)) return;
        for (int i = 0; i < length; i++)
        {
            if (host[i] == emu[i]) continue;
            sb.Append($"\n  {what}+{i:x}: host {host[i]:x2} emulator {emu[i]:x2}");
            break;
        }
    }

    public void Dispose()
    {
        _native.Dispose();
        _memory.Dispose();
    }
}
