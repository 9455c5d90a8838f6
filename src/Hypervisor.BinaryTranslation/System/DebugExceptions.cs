using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// Where #DB rules reach into instructions: the RF value pushed with an exception (Intel SDM Vol. 3, 19.3.1.1),
/// and the single-step trap of SYSCALL/SYSRET, which depends on TF after the instruction.
/// </summary>
public static unsafe class DebugExceptions
{
    /// <summary>
    /// Wraps SYSCALL/SYSRET (the bound handler is in op.Imm; they have no immediate). TF is tested after the
    /// instruction: SYSCALL traps only when FMASK left TF set, and SYSRET traps when R11 set it - at the first
    /// instruction of user code, as if the SYSCALL had just completed (QEMU and KVM do the same).
    /// </summary>
    public static bool SystemCall(CpuContext c, ref Op op)
    {
        var inner = (delegate*<CpuContext, ref Op, bool>)op.Imm;
        bool next = inner(c, ref op);
        if (c.Exit != ExitKind.None || (c.Rflags & FlagBits.TF) == 0) return next;
        c.Exit = ExitKind.StepTrap;
        return false;
    }

    /// <summary>
    /// A hardware task switch (SDM Vol. 3, 19.2.4 and 19.3.1.5): the local enables L0-L3 and LE are cleared, and
    /// the new 32-bit TSS's T flag makes a #DB trap with DR6.BT before the new task's first instruction.
    /// </summary>
    public static void TaskSwitched(CpuContext c, bool trapFlag)
    {
        var a = c.Architectural;
        if ((a.Dr7 & LocalEnables) != 0)
        {
            a.Dr7 &= ~LocalEnables;
            DebugBreakpoints.Refresh(c);
        }
        if (!trapFlag) return;
        c.PendingDebugDr6 |= DebugBreakpoints.Dr6Bt;
        c.DebugArmed |= DebugBreakpoints.ArmedTaskTrap;
    }

    /// <summary>DR7.L0-L3 and LE.</summary>
    private const ulong LocalEnables = 0x155;

    /// <summary>
    /// Fault-class exceptions (SDM Vol. 3, Table 6-1) push RF = 1, so the re-executed instruction does not hit its
    /// instruction breakpoint again. #DB is not listed: an instruction-breakpoint #DB pushes RF as it is, and the
    /// general-detect #DB sets RF where it is raised (<see cref="DebugRegisters"/>).
    /// </summary>
    public static bool IsFaultClass(byte vector) =>
        vector is Vectors.DivideError or Vectors.BoundRange or Vectors.InvalidOpcode or Vectors.DeviceNotAvailable
            or Vectors.InvalidTss or Vectors.SegmentNotPresent or Vectors.StackFault or Vectors.GeneralProtection or Vectors.PageFault
            or Vectors.FloatingPoint or Vectors.AlignmentCheck or Vectors.SimdFloatingPoint or 20;
}
