using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>Where an event comes from: it decides the DPL check, the EXT bit and #DF promotion.</summary>
public enum EventSource : byte
{
    /// <summary>An exception raised by an instruction (fault or trap).</summary>
    Exception,

    /// <summary>A maskable interrupt from the interrupt controller.</summary>
    External,

    Nmi,

    /// <summary>INT n, INT3, INTO: the gate's DPL is checked against CPL, EXT = 0.</summary>
    Software,

    /// <summary>INT1 (ICEBP): delivered like a hardware #DB, without the DPL check.</summary>
    Icebp,
}

/// <summary>
/// Exception and interrupt delivery (Intel SDM Vol. 3, chapter 6): the real-mode IVT, protected-mode interrupt,
/// trap and task gates with privilege changes and virtual-8086 exits, IA-32e 64-bit gates with IST. A fault while
/// delivering is combined with the first event by SDM Table 6-5 (#DF), and a fault while delivering #DF is a
/// triple fault (<see cref="CpuContext.ShutdownPending"/>). Nothing here throws.
/// </summary>
public static class InterruptDelivery
{
    /// <summary>Delivers <see cref="CpuContext.Exception"/> (RIP already at the faulting instruction for faults).</summary>
    public static void DeliverException(CpuContext c)
    {
        var e = c.Exception;
        c.Exit = ExitKind.None;
        if (e.Vector == Vectors.PageFault) c.Architectural.Cr2 = e.FaultAddress;
        if (DebugExceptions.IsFaultClass(e.Vector)) c.Rflags |= FlagBits.RF;
        Deliver(c, e.Vector, EventSource.Exception, e.HasErrorCode, e.ErrorCode);
    }

    public static void DeliverExternalInterrupt(CpuContext c, byte vector) =>
        Deliver(c, vector, EventSource.External, false, 0);

    /// <summary>NMI (vector 2); NMIs stay blocked until the next IRET.</summary>
    public static void DeliverNmi(CpuContext c)
    {
        c.NmiBlocked = true;
        Deliver(c, Vectors.Nmi, EventSource.Nmi, false, 0);
    }

    private static bool IsContributory(byte vector) =>
        vector is Vectors.DivideError or Vectors.InvalidTss or Vectors.SegmentNotPresent or Vectors.StackFault
            or Vectors.GeneralProtection;

    /// <summary>SDM Table 6-5: contributory + contributory, or #PF + (#PF or contributory), make #DF.</summary>
    private static bool MakesDoubleFault(byte first, byte second) =>
        (IsContributory(first) && IsContributory(second))
        || (first == Vectors.PageFault && (second == Vectors.PageFault || IsContributory(second)));

    private static void Deliver(CpuContext c, byte vector, EventSource source, bool hasError, uint error)
    {
        while (true)
        {
            if (Gates.TryDeliver(c, vector, source, hasError, error))
            {
                c.Exit = ExitKind.None;
                return;
            }
            var second = c.Exception;
            c.Exit = ExitKind.None;
            if (source == EventSource.Exception && vector == Vectors.DoubleFault)
            {
                c.ShutdownPending = true;
                return;
            }
            if (second.Vector == Vectors.PageFault) c.Architectural.Cr2 = second.FaultAddress;
            if (source == EventSource.Exception && MakesDoubleFault(vector, second.Vector))
            {
                vector = Vectors.DoubleFault;
                hasError = true;
                error = 0;
            }
            else
            {
                vector = second.Vector;
                hasError = second.HasErrorCode;
                error = second.ErrorCode;
            }
            source = EventSource.Exception;
        }
    }

    /// <summary>Exceptions that push an error code in protected and IA-32e mode (Intel SDM Vol. 3, Table 6-1).</summary>
    internal static bool PushesErrorCode(byte vector) =>
        vector is Vectors.DoubleFault or Vectors.InvalidTss or Vectors.SegmentNotPresent or Vectors.StackFault
            or Vectors.GeneralProtection or Vectors.PageFault or Vectors.AlignmentCheck or 21;

    /// <summary>The RFLAGS bits every gate entry clears (interrupt gates clear IF as well).</summary>
    internal const ulong EntryClearedFlags = FlagBits.TF | FlagBits.VM | FlagBits.RF | FlagBits.NT;
}
