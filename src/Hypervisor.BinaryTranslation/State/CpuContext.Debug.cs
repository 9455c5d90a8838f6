using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.System;

namespace Hypervisor.BinaryTranslation.State;

/// <summary>
/// The armed debug-register state (Intel SDM Vol. 3, 19.2), decoded from DR0-DR3/DR7 whenever they change
/// (<see cref="DebugBreakpoints.Refresh"/>), and what the current instruction's data and I/O accesses matched.
/// Nothing here is read on the fast path except <see cref="DebugArmed"/>, once per block boundary.
/// </summary>
public sealed partial class CpuContext
{
    /// <summary>
    /// Nonzero while DR7 enables a breakpoint (<see cref="DebugBreakpoints.ArmedInstruction"/> and the data/I/O
    /// bits) or a MOV SS inhibit is pending: the interpreter then runs one instruction at a time through its debug step.
    /// </summary>
    public uint DebugArmed;

    /// <summary>B0-B3 of every data or I/O breakpoint (enabled or not) the current instruction's accesses matched.</summary>
    public uint DebugHits;

    /// <summary>
    /// Iterations a REP string instruction runs before it leaves RIP on itself and ends the block: 1 while TF or a
    /// data/I/O breakpoint is armed (a single-step or data trap follows each iteration, SDM Vol. 3, 19.3.1.4).
    /// </summary>
    public int RepIterationLimit = Instructions.Strings.IterationsPerChunk;

    /// <summary>
    /// DR6 bits (BS, B0-B3) of trap conditions held back by a MOV SS / POP SS until the boundary after the next
    /// instruction (SDM Vol. 3, 6.8.3; <see cref="DebugBreakpoints.ArmedInhibit"/>).
    /// </summary>
    public ulong PendingDebugDr6;

    /// <summary>The decoded breakpoints: linear address (aligned down to LEN), length mask and kind per DRn.</summary>
    internal DebugBreakpoints.Slots DebugSlots;

    /// <summary>Linear pages holding a data breakpoint: they are never entered into the data TLB.</summary>
    internal DebugBreakpoints.Pages WatchedPages;

    internal int WatchedPageCount;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsWatchedPage(ulong linearPage)
    {
        for (int i = 0; i < WatchedPageCount; i++)
            if (WatchedPages[i] == linearPage) return true;
        return false;
    }
}
