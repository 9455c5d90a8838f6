using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.Instructions;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;

namespace Hypervisor.BinaryTranslation.Execution;

/// <summary>
/// The debug step: one instruction under the #DB rules of Intel SDM Vol. 3, 19.3 (AMD APM Vol. 2, 13.1), taken
/// instead of a block whenever RFLAGS.TF or RF is set, DR7 arms a breakpoint, or a MOV SS inhibit is pending.
/// <list type="number">
/// <item>Instruction breakpoints (a fault, RIP at the instruction): checked unless RF = 1 or a MOV SS / POP SS
/// just executed; they rank below the previous instruction's traps and external interrupts (SDM 6.9), which the
/// backend delivered before this call. A task switch to a TSS with T = 1 left its #DB trap (DR6.BT) first.</item>
/// <item>RF is cleared at the start of the instruction, after that check.</item>
/// <item>The instruction runs as a one-instruction block; a REP string instruction runs one iteration when TF or
/// a data/I/O breakpoint is armed. A fault ends the step (no trap: the instruction did not complete).</item>
/// <item>Traps (RIP after the instruction): single-step when TF was set at its start (DR6.BS) - except after an
/// INT n/INT3/INTO/INT1 that delivered its interrupt (delivery cleared TF), and for SYSCALL/SYSRET by TF after
/// the instruction - and data/I/O breakpoints its accesses matched (DR6.Bn). MOV SS / POP SS defer them to the
/// boundary after the next instruction. A HLT followed by a trap does not halt: the #DB is the event that
/// resumes the processor.</item>
/// </list>
/// </summary>
public sealed unsafe partial class Interpreter
{
    private RunExit? DebugStep(CpuContext c)
    {
        if ((c.DebugArmed & DebugBreakpoints.ArmedTaskTrap) != 0)
        {
            // The T-flag trap of the task switch that led here, before the new task's first instruction.
            ulong pending = c.PendingDebugDr6 & DebugBreakpoints.Dr6Bt;
            c.PendingDebugDr6 &= ~DebugBreakpoints.Dr6Bt;
            c.DebugArmed &= ~DebugBreakpoints.ArmedTaskTrap;
            RaiseStepTrap(c, pending);
            return RunExit.Exception;
        }
        ulong flags = c.Rflags;
        bool tf = (flags & FlagBits.TF) != 0;
        bool inhibited = (c.DebugArmed & DebugBreakpoints.ArmedInhibit) != 0;

        if (!inhibited && (flags & FlagBits.RF) == 0 && (c.DebugArmed & DebugBreakpoints.ArmedInstruction) != 0)
        {
            uint matched = DebugBreakpoints.MatchInstruction(c, c.CodeLinear);
            if ((matched & c.DebugArmed & DebugBreakpoints.ArmedInstruction) != 0)
            {
                // A fault-class #DB that pushes RF as it is (0): the handler sets RF in the frame to resume.
                DebugBreakpoints.Report(c, matched);
                c.Fault(Vectors.Debug);
                c.Exit = ExitKind.None;
                return RunExit.Exception;
            }
        }

        c.Rflags = flags & ~FlagBits.RF;
        c.DebugHits = 0;
        var block = Lookup(c, single: true);
        if (block == null)
        {
            EndInhibit(c);
            return RunExit.Exception;
        }

        c.RepIterationLimit = tf || (c.DebugArmed & (DebugBreakpoints.ArmedData | DebugBreakpoints.ArmedIo)) != 0
            ? 1
            : Strings.IterationsPerChunk;
        ref Op first = ref MemoryMarshal.GetArrayDataReference(block.Ops);
        ref Op op = ref first;
        while (true)
        {
            c.Rip += op.Length;
            if (!op.Handler(c, ref op)) break;
            op = ref Unsafe.Add(ref op, 1);
        }
        c.RepIterationLimit = Strings.IterationsPerChunk;

        bool halted = false, stepTrap = false, yielded = false;
        switch (c.Exit)
        {
            case ExitKind.Exception:
                c.Exit = ExitKind.None;
                c.Rip -= op.Length;
                EndInhibit(c);
                return RunExit.Exception;
            case ExitKind.Restart:
                c.Exit = ExitKind.None;
                // The instruction wrote to its own code page: the end-of-block op after it was made stale, but
                // the instruction completed. Stale before it ran: nothing retired, RF is as it was.
                int index = (int)(Unsafe.ByteOffset(ref first, ref op) / sizeof(Op));
                if (index == 0 || Unsafe.Add(ref first, index - 1).Length == 0 || op.Length != 0)
                {
                    c.Rflags |= flags & FlagBits.RF;
                    return null;
                }
                break;
            case ExitKind.Halt:
                c.Exit = ExitKind.None;
                halted = true;
                break;
            case ExitKind.StepTrap:
                c.Exit = ExitKind.None;
                stepTrap = true;
                break;
            case ExitKind.Yield:
                c.Exit = ExitKind.None;
                yielded = YieldOnPause;
                break;
        }
        c.InstructionsRetired++;

        bool step = block.FirstStepKind switch
        {
            StepKind.SoftwareInterrupt => tf && (c.Rflags & FlagBits.TF) != 0,
            StepKind.SystemCall => stepTrap,
            _ => tf,
        };
        uint hits = c.DebugHits;
        c.DebugHits = 0;
        ulong dr6 = hits | (step ? DebugBreakpoints.Dr6Bs : 0);
        bool trap = step || hits != 0;

        if (inhibited)
        {
            // The instruction after MOV SS / POP SS: what that one detected is delivered now, with this one's.
            trap |= c.PendingDebugDr6 != 0;
            dr6 |= c.PendingDebugDr6;
            EndInhibit(c);
        }
        else if (block.FirstStepKind == StepKind.StackSegmentLoad)
        {
            c.PendingDebugDr6 = trap ? dr6 : 0;
            c.DebugArmed |= DebugBreakpoints.ArmedInhibit;
            return null;
        }

        if (trap)
        {
            RaiseStepTrap(c, dr6);
            return RunExit.Exception;
        }
        return halted ? RunExit.Halted : yielded ? RunExit.Yielded : null;
    }

    /// <summary>A trap-class #DB after a completed instruction (RIP past it): DR6 gets the conditions.</summary>
    private static void RaiseStepTrap(CpuContext c, ulong dr6)
    {
        DebugBreakpoints.Report(c, dr6 == 0 ? DebugBreakpoints.Dr6Bs : dr6);
        c.Exception = new PendingException { Vector = Vectors.Debug };
    }

    private static void EndInhibit(CpuContext c)
    {
        c.DebugArmed &= ~DebugBreakpoints.ArmedInhibit;
        c.PendingDebugDr6 = 0;
        c.DebugHits = 0;
    }
}
