using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// The breakpoint conditions of DR0-DR3 as DR7 arms them (Intel SDM Vol. 3, 19.2.4-19.2.5; AMD APM Vol. 2, 13.1.1):
/// L/G enable bits, R/W 00 instruction execution, 01 data writes, 10 I/O reads or writes (only with CR4.DE), 11 data
/// reads or writes; LEN 1, 2, 8 (encoding 10) or 4 bytes, with the low address bits ignored so that a breakpoint
/// covers its naturally aligned range. <see cref="Refresh"/> decodes them after every write to DR0-DR3/DR7 and on
/// state loads; the matches record DR6.B0-B3 bits.
/// </summary>
public static class DebugBreakpoints
{
    /// <summary>Armed bits in <see cref="CpuContext.DebugArmed"/>: enabled instruction breakpoints (one bit per DRn).</summary>
    public const uint ArmedInstruction = 0x00F;

    /// <summary>Enabled data breakpoints (R/W 01 or 11), bits 4-7.</summary>
    public const uint ArmedData = 0x0F0;

    /// <summary>Enabled I/O breakpoints (R/W 10), bits 8-11; they match only while CR4.DE = 1.</summary>
    public const uint ArmedIo = 0xF00;

    /// <summary>
    /// Not a breakpoint: a MOV SS / POP SS just executed and debug exceptions wait for the next instruction
    /// boundary (SDM Vol. 3, 6.8.3). Kept in the same word so the block-boundary test stays one load.
    /// </summary>
    public const uint ArmedInhibit = 0x1000;

    /// <summary>Not a breakpoint: a task switch to a TSS with T = 1 left a #DB trap (DR6.BT) for the next boundary.</summary>
    public const uint ArmedTaskTrap = 0x2000;

    public const byte KindInstruction = 0, KindWrite = 1, KindIo = 2, KindReadWrite = 3;

    /// <summary>DR6.BS: the #DB is a single-step trap.</summary>
    public const ulong Dr6Bs = 1UL << 14;

    /// <summary>DR6.BT: the #DB is the trap of a task switch to a TSS with the T flag.</summary>
    public const ulong Dr6Bt = 1UL << 15;

    /// <summary>DR6.B0-B3.</summary>
    public const ulong Dr6Hits = 0xF;

    public struct Slot
    {
        /// <summary>DRn with the bits below LEN cleared (for an instruction breakpoint: DRn itself).</summary>
        public ulong Address;

        /// <summary>Bytes covered: 1, 2, 4 or 8.</summary>
        public uint Length;

        public byte Kind;
    }

    [InlineArray(4)]
    public struct Slots
    {
        private Slot _element0;
    }

    [InlineArray(4)]
    public struct Pages
    {
        private ulong _element0;
    }

    /// <summary>DR7.LENn: 00 one byte, 01 two, 10 eight (IA-32e processors), 11 four.</summary>
    private static uint Length(ulong dr7, int n) => ((dr7 >> (18 + 4 * n)) & 3) switch { 0 => 1, 1 => 2, 2 => 8, _ => 4 };

    private static ulong Register(CpuState a, int n) => n switch { 0 => a.Dr0, 1 => a.Dr1, 2 => a.Dr2, _ => a.Dr3 };

    /// <summary>
    /// Decodes DR0-DR3/DR7 into <see cref="CpuContext.DebugSlots"/> and <see cref="CpuContext.DebugArmed"/>, and
    /// keeps the pages of enabled data breakpoints out of the data TLB so every access to them takes the slow
    /// path, where <see cref="MatchData"/> sees it.
    /// </summary>
    public static void Refresh(CpuContext c)
    {
        var a = c.Architectural;
        ulong dr7 = a.Dr7;
        uint armed = 0;
        Pages pages = default;
        int pageCount = 0;
        for (int n = 0; n < 4; n++)
        {
            byte kind = (byte)((dr7 >> (16 + 4 * n)) & 3);
            uint length = kind == KindInstruction ? 1 : Length(dr7, n);
            ulong address = Register(a, n);
            if (kind != KindInstruction) address &= ~(ulong)(length - 1);
            c.DebugSlots[n] = new Slot { Address = address, Length = length, Kind = kind };
            if (((dr7 >> (2 * n)) & 3) == 0) continue;
            switch (kind)
            {
                case KindInstruction:
                    armed |= 1u << n;
                    break;
                case KindIo:
                    armed |= 0x100u << n;
                    break;
                default:
                    armed |= 0x10u << n;
                    ulong page = address & ~0xFFFUL;
                    bool known = false;
                    for (int i = 0; i < pageCount; i++) known |= pages[i] == page;
                    if (!known) pages[pageCount++] = page;
                    break;
            }
        }
        c.DebugArmed = armed | (c.DebugArmed & (ArmedInhibit | ArmedTaskTrap));
        bool changed = pageCount != c.WatchedPageCount;
        for (int i = 0; i < pageCount && !changed; i++) changed = pages[i] != c.WatchedPages[i];
        c.WatchedPages = pages;
        c.WatchedPageCount = pageCount;
        // Entries for newly watched pages must leave the TLB; DR writes are rare, so everything goes.
        if (changed && pageCount > 0) c.FlushTlbAll();
    }

    /// <summary>
    /// B0-B3 of the instruction breakpoints at this linear address. Matches are reported whether or not DR7
    /// enables them (SDM 19.2.3: "they may or may not be set if the breakpoint is not enabled"); the caller takes
    /// the #DB only when an enabled one matched.
    /// </summary>
    public static uint MatchInstruction(CpuContext c, ulong linear)
    {
        uint hits = 0;
        for (int n = 0; n < 4; n++)
        {
            ref var s = ref c.DebugSlots[n];
            if (s.Kind == KindInstruction && (s.Address & c.LinearMask) == linear) hits |= 1u << n;
        }
        return hits;
    }

    /// <summary>Records the enabled data breakpoints a data access of [linear, linear + length) matches.</summary>
    public static void MatchData(CpuContext c, ulong linear, int length, bool write)
    {
        uint enabled = (c.DebugArmed & ArmedData) >> 4;
        for (int n = 0; n < 4; n++)
        {
            if ((enabled & (1u << n)) == 0) continue;
            ref var s = ref c.DebugSlots[n];
            if (s.Kind == KindWrite && !write) continue;
            if (Overlaps(s.Address & c.LinearMask, s.Length, linear, (ulong)length)) c.DebugHits |= 1u << n;
        }
    }

    /// <summary>Records the enabled I/O breakpoints an IN/OUT/INS/OUTS of <paramref name="size"/> bytes at the port matches.</summary>
    public static void MatchIo(CpuContext c, ushort port, int size)
    {
        if ((c.Architectural.Cr4 & ControlRegisters.Cr4De) == 0) return;
        uint enabled = (c.DebugArmed & ArmedIo) >> 8;
        for (int n = 0; n < 4; n++)
        {
            if ((enabled & (1u << n)) == 0) continue;
            ref var s = ref c.DebugSlots[n];
            if (Overlaps(s.Address & 0xFFFF, s.Length, port, (ulong)size)) c.DebugHits |= 1u << n;
        }
    }

    private static bool Overlaps(ulong start, uint length, ulong accessStart, ulong accessLength) =>
        accessStart < start + length && start < accessStart + accessLength;

    /// <summary>
    /// Updates DR6 and DR7 for a #DB about to be delivered: B0-B3 are rewritten with this exception's matches,
    /// BD/BS/BT are only ever set (the processor never clears them; SDM 19.2.3), and DR7.GD is cleared so the
    /// handler can use the debug registers (SDM 19.2.4).
    /// </summary>
    public static void Report(CpuContext c, ulong dr6Bits)
    {
        var a = c.Architectural;
        a.Dr6 = (a.Dr6 & ~Dr6Hits) | dr6Bits | DebugRegisters.Dr6Fixed1;
        a.Dr7 &= ~DebugRegisters.Dr7Gd;
    }
}
