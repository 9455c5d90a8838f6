using Hypervisor.BinaryTranslation.Instructions;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Decoding;

/// <summary>
/// Decodes a block starting at the current RIP: Iced over the guest's code page, each instruction bound to an
/// <see cref="Op"/>. A block ends after a control transfer (conditional branches fall through inside the block),
/// after an instruction that changes how the following ones must be decoded, at the end of the page, or at the
/// instruction limit. Only a block's first instruction may spill into the next page.
/// </summary>
public sealed unsafe class BlockDecoder
{
    private readonly GuestCodeReader _reader = new();
    private readonly Decoder _decoder16, _decoder32, _decoder64;
    private readonly List<Op> _ops = new(64);

    public BlockDecoder()
    {
        _decoder16 = Decoder.Create(16, _reader);
        _decoder32 = Decoder.Create(32, _reader);
        _decoder64 = Decoder.Create(64, _reader);
    }

    /// <summary>Mnemonics decoded without a handler (bound to #UD), for diagnostics.</summary>
    public HashSet<Mnemonic> Unimplemented { get; } = new();

    public long InstructionsDecoded { get; private set; }

    /// <summary>
    /// Decodes the block at CS:RIP whose first byte is at <paramref name="host"/> / <paramref name="physical"/>.
    /// Returns null when fetching its first instruction faults (the fault is pending on <paramref name="c"/>).
    /// </summary>
    public Block? Decode(CpuContext c, byte* host, ulong physical, int maxInstructions, uint modeKey)
    {
        ulong linear = c.CodeLinear;
        int available = 0x1000 - (int)(linear & 0xFFF);
        ulong secondPhysical = Block.NoPage;
        _reader.Reset(host, available);
        _reader.ResolveSecond = () =>
        {
            ulong next = (linear & ~0xFFFUL) + 0x1000;
            if (!c.TranslateCode(next, out byte* h, out ulong p) || h == null) return IntPtr.Zero;
            secondPhysical = p & ~0xFFFUL;
            return (IntPtr)(h - (p & 0xFFF));
        };
        var decoder = c.CodeBits switch { 16 => _decoder16, 32 => _decoder32, _ => _decoder64 };
        ulong cr0 = c.Architectural.Cr0;
        bool em = (cr0 & 4) != 0;
        var ctx = new BindContext(c.CodeBits, c.StackBits, c.Mode,
            SseEnabled: !em && (c.Architectural.Cr4 & 0x200) != 0, FpuEmulated: em, TaskSwitched: (cr0 & 8) != 0);
        _ops.Clear();
        int offset = 0, count = 0;
        bool endsWithBranch = false;
        var firstKind = StepKind.Normal;
        ulong rip = c.Rip;
        while (true)
        {
            _reader.Position = offset;
            decoder.IP = rip + (ulong)offset;
            decoder.Decode(out var ins);
            if (ins.IsInvalid && decoder.LastError == DecoderError.NoMoreBytes)
            {
                // The instruction needs bytes from a page that cannot be fetched: a fault if it is the first one.
                if (count == 0) return c.Exit == ExitKind.Exception ? null : FetchFailure(c, physical);
                c.Exit = ExitKind.None;
                break;
            }
            if (offset + ins.Length > available && count > 0)
            {
                // Let this instruction start its own block, so a block never depends on two pages but for its first.
                c.Exit = ExitKind.None;
                break;
            }
            var op = default(Op);
            bool undefined = ins.IsInvalid || !OpBinder.Bind(ins, ref op, ctx) || op.Handler == null;
            if (undefined)
            {
                if (!ins.IsInvalid) Unimplemented.Add(ins.Mnemonic);
                op = default;
                op.Length = (byte)ins.Length;
                op.Handler = &Misc.InvalidOpcode;
            }
            if (!undefined && ins.Code is Code.Syscall or Code.Sysretd or Code.Sysretq)
            {
                op.Imm = (ulong)op.Handler;
                op.Handler = &global::Hypervisor.BinaryTranslation.System.DebugExceptions.SystemCall;
            }
            // Non-flat segments outside 64-bit mode: a limit/rights check op runs before the instruction.
            if (!undefined && c.CheckedSegments != 0
                && global::Hypervisor.BinaryTranslation.System.SegmentChecks.Bind(ins, c.CheckedSegments, c.CodeBits, out var check))
                _ops.Add(check);
            _ops.Add(op);
            if (count == 0) firstKind = StepKindOf(ins);
            count++;
            offset += ins.Length;
            if (undefined || EndsBlock(ins))
            {
                endsWithBranch = true;
                break;
            }
            if (offset >= available || count >= maxInstructions) break;
        }
        InstructionsDecoded += count;
        if (!endsWithBranch)
        {
            var end = default(Op);
            end.Handler = &ControlFlow.EndBlock;
            _ops.Add(end);
        }
        ulong second = offset > available ? secondPhysical : Block.NoPage;
        return new Block([.. _ops], count, physical, second, modeKey) { FirstStepKind = firstKind };
    }

    private static StepKind StepKindOf(in Instruction ins)
    {
        switch (ins.Code)
        {
            case Code.Int_imm8: case Code.Int3: case Code.Into: case Code.Int1:
                return StepKind.SoftwareInterrupt;
            case Code.Syscall: case Code.Sysretd: case Code.Sysretq:
                return StepKind.SystemCall;
        }
        bool loadsSs = ins.OpCount > 0 && ins.Op0Kind == OpKind.Register && ins.Op0Register == Register.SS
                       && ins.Mnemonic is Mnemonic.Mov or Mnemonic.Pop;
        return loadsSs ? StepKind.StackSegmentLoad : StepKind.Normal;
    }

    private static Block? FetchFailure(CpuContext c, ulong physical)
    {
        // Executing from a hole in the physical address space: nothing sensible to run, the CPU would fetch
        // all-ones bytes and fault; report it as a #UD at the instruction.
        c.Fault(Vectors.InvalidOpcode);
        return null;
    }

    /// <summary>Control transfers end the block, except conditional ones, which fall through inside it.</summary>
    private static bool EndsBlock(in Instruction ins)
    {
        switch (ins.FlowControl)
        {
            case FlowControl.Next:
            case FlowControl.ConditionalBranch:
                break;
            default:
                return true;
        }
        // Instructions that may change how the next ones decode or whether interrupts are taken (POPF can set
        // TF, a segment load can change CS.D or SS.B) end the block, so the next lookup sees the new mode.
        // PAUSE ends its block so the vCPU can offer its turn at the boundary (Misc.Pause).
        if (ins.Mnemonic is Mnemonic.Hlt or Mnemonic.Pause or Mnemonic.Popf or Mnemonic.Sti or Mnemonic.Cli) return true;
        bool writesSegment = ins.OpCount > 0 && ins.Op0Kind == OpKind.Register && ins.Op0Register.IsSegmentRegister();
        return writesSegment && ins.Mnemonic is Mnemonic.Mov or Mnemonic.Pop;
    }
}
