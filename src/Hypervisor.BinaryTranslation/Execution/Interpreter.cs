using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Execution;

/// <summary>Why <see cref="Interpreter.Run"/> returned.</summary>
public enum RunExit
{
    /// <summary>The instruction budget is used up (at a block boundary).</summary>
    BudgetExhausted,

    /// <summary>An instruction raised an exception; it is in <see cref="CpuContext.Exception"/>, RIP at the instruction.</summary>
    Exception,

    /// <summary>HLT retired.</summary>
    Halted,

    /// <summary><see cref="Interpreter.RequestStop"/> was called.</summary>
    Stopped,

    /// <summary>
    /// PAUSE retired with <see cref="Interpreter.YieldOnPause"/> set (RIP past it): the guest spins, waiting for
    /// something another vCPU or a device must do.
    /// </summary>
    Yielded,
}

/// <summary>
/// Tier 0: runs cached decoded blocks. Between blocks - and only there - it looks at stop requests, queued
/// device writes to code and (P1.4) pending interrupts; inside a block it does nothing but call handlers.
/// </summary>
public sealed unsafe partial class Interpreter
{
    private volatile bool _stopRequested;

    public Interpreter(CpuContext cpu, BlockCache? cache = null)
    {
        Cpu = cpu;
        Cache = cache ?? new BlockCache();
        var code = cpu.Memory.Code;
        code.Invalidate += Cache.InvalidatePage;
        code.BecameCode += page =>
        {
            byte* host = cpu.Memory.HostPage(page, out _);
            if (host != null) cpu.FlushWritableHostPage((ulong)host);
        };
    }

    public CpuContext Cpu { get; }
    public BlockCache Cache { get; }
    public BlockDecoder Decoder { get; } = new();

    /// <summary>Longest block in instructions.</summary>
    public int MaxBlockInstructions { get; set; } = 128;

    /// <summary>
    /// Decode one instruction per block, so every instruction is a block boundary: the VMM's own stepping (an
    /// interrupt shadow). The guest's TF and debug registers are handled by the debug step (DebugStep.cs).
    /// </summary>
    public bool SingleStep { get; set; }

    /// <summary>Makes a running <see cref="Run"/> return <see cref="RunExit.Stopped"/> at the next block boundary.</summary>
    public void RequestStop() => _stopRequested = true;

    /// <summary>
    /// Set by the backend while a maskable interrupt waits for RFLAGS.IF: <see cref="Run"/> then returns
    /// <see cref="RunExit.Stopped"/> at the first block boundary with IF = 1. STI, POPF, IRET and the other
    /// instructions that can set IF end their block, so the interrupt is taken at the architectural boundary.
    /// </summary>
    public bool StopWhenInterruptible { get; set; }

    /// <summary>
    /// Makes <see cref="Run"/> return <see cref="RunExit.Yielded"/> after each PAUSE, so a backend that runs
    /// vCPUs in turns can hand the turn over to the one a spin loop waits for. Off, PAUSE only ends its block.
    /// </summary>
    public bool YieldOnPause { get; set; }

    public RunExit Run(long maxInstructions)
    {
        var c = Cpu;
        long end = c.InstructionsRetired + maxInstructions;
        Block? block = null;
        while (true)
        {
            if (c.InstructionsRetired >= end) return RunExit.BudgetExhausted;
            if (_stopRequested)
            {
                _stopRequested = false;
                return RunExit.Stopped;
            }
            if (StopWhenInterruptible && (c.Rflags & FlagBits.IF) != 0) return RunExit.Stopped;
            if (c.Memory.A20Generation != c.TlbA20Generation) c.SyncA20();
            if (c.Memory.Code.DeviceWritesPending)
            {
                c.Memory.Code.DrainDeviceWrites();
                block = null;
            }

            // TF, RF, an armed breakpoint or a MOV SS inhibit: one instruction at a time with the #DB rules
            // (Execution/DebugStep.cs). One test per block when nothing is armed.
            if (((c.Rflags & (FlagBits.TF | FlagBits.RF)) | c.DebugArmed) != 0)
            {
                block = null;
                if (DebugStep(c) is { } exit) return exit;
                continue;
            }

            var next = block == null ? null : FollowLink(block, c);
            if (next == null)
            {
                next = Lookup(c, SingleStep);
                if (next == null) return RunExit.Exception;
                if (block != null) Link(block, next, c);
            }
            block = next;

            ref Op first = ref MemoryMarshal.GetArrayDataReference(block.Ops);
            ref Op op = ref first;
            while (true)
            {
                c.Rip += op.Length;
                if (!op.Handler(c, ref op)) break;
                op = ref Unsafe.Add(ref op, 1);
            }
            int index = (int)(Unsafe.ByteOffset(ref first, ref op) / sizeof(Op));

            switch (c.Exit)
            {
                case ExitKind.None:
                    c.InstructionsRetired += index < block.InstructionCount ? index + 1 : index;
                    break;
                case ExitKind.Exception:
                    c.Exit = ExitKind.None;
                    c.InstructionsRetired += index;
                    c.Rip -= op.Length;
                    return RunExit.Exception;
                case ExitKind.Halt:
                    c.Exit = ExitKind.None;
                    c.InstructionsRetired += index + 1;
                    return RunExit.Halted;
                case ExitKind.Restart:
                    c.Exit = ExitKind.None;
                    c.InstructionsRetired += index;
                    block = null;
                    break;
                case ExitKind.StepTrap:
                    c.Exit = ExitKind.None;
                    c.InstructionsRetired += index + 1;
                    RaiseStepTrap(c, 0);
                    return RunExit.Exception;
                case ExitKind.Yield:
                    c.Exit = ExitKind.None;
                    c.InstructionsRetired += index + 1;
                    if (YieldOnPause) return RunExit.Yielded;
                    break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Block? FollowLink(Block block, CpuContext c)
    {
        ulong rip = c.Rip;
        uint generation = c.TranslationGeneration;
        if (rip == block.LinkRipA && block.LinkGenerationA == generation && block.LinkA is { Valid: true } a) return a;
        if (rip == block.LinkRipB && block.LinkGenerationB == generation && block.LinkB is { Valid: true } b) return b;
        return null;
    }

    private static void Link(Block from, Block to, CpuContext c)
    {
        if (from.LinkA == null || !from.LinkA.Valid || from.LinkGenerationA != c.TranslationGeneration)
        {
            from.LinkA = to;
            from.LinkRipA = c.Rip;
            from.LinkGenerationA = c.TranslationGeneration;
        }
        else
        {
            from.LinkB = to;
            from.LinkRipB = c.Rip;
            from.LinkGenerationB = c.TranslationGeneration;
        }
    }

    /// <summary>
    /// Finds or decodes the block at CS:RIP; <paramref name="single"/> asks for a one-instruction block (cached
    /// under mode-key bit 31, so normal blocks are never reused for it). Null with the fault pending when the fetch faults.
    /// </summary>
    private Block? Lookup(CpuContext c, bool single)
    {
        ulong linear = c.CodeLinear;
        uint mode = c.ModeKey | (single ? 1u << 31 : 0);
        var block = Cache.FindByLinear(linear, mode, c.TranslationGeneration);
        if (block != null) return block;

        if (!c.TranslateCode(linear, out byte* host, out ulong physical))
        {
            c.Exit = ExitKind.None;
            return null;
        }
        if (host == null)
        {
            c.Fault(Vectors.InvalidOpcode);
            c.Exit = ExitKind.None;
            return null;
        }
        block = Cache.Find(physical, mode);
        if (block != null && block.SecondPage != Block.NoPage && !SecondPageMatches(c, linear, block)) block = null;
        if (block == null)
        {
            block = Decoder.Decode(c, host, physical, single ? 1 : MaxBlockInstructions, mode);
            if (block == null)
            {
                c.Exit = ExitKind.None;
                return null;
            }
            Cache.Add(block);
            c.Memory.Code.MarkCode(physical);
            if (block.SecondPage != Block.NoPage) c.Memory.Code.MarkCode(block.SecondPage);
        }
        Cache.RememberLinear(linear, mode, c.TranslationGeneration, block);
        return block;
    }

    private static bool SecondPageMatches(CpuContext c, ulong linear, Block block)
    {
        ulong next = (linear & ~0xFFFUL) + 0x1000;
        bool ok = c.TranslateCode(next, out _, out ulong physical);
        c.Exit = ExitKind.None;
        return ok && (physical & ~0xFFFUL) == block.SecondPage;
    }
}
