namespace Hypervisor.BinaryTranslation.State;

/// <summary>The processor operating mode (Intel SDM Vol. 3, 2.2: real, protected, virtual-8086, IA-32e).</summary>
public enum CpuMode : byte
{
    Real,
    Protected,
    Virtual8086,

    /// <summary>IA-32e compatibility mode: long mode active, CS.L = 0.</summary>
    Compatibility,

    /// <summary>IA-32e 64-bit mode: long mode active, CS.L = 1.</summary>
    Long64,
}

/// <summary>Why a handler stopped the block early.</summary>
public enum ExitKind : byte
{
    None,

    /// <summary>A fault or trap is pending in <see cref="CpuContext.Exception"/>; RIP points at the faulting instruction.</summary>
    Exception,

    /// <summary>HLT retired.</summary>
    Halt,

    /// <summary>The rest of the block is stale (a store hit its code page) or the mode changed: look the block up again.</summary>
    Restart,

    /// <summary>
    /// The instruction completed and a single-step trap follows it whatever TF was at its start (SYSCALL/SYSRET
    /// with TF = 1 afterwards, System/DebugExceptions); RIP is past the instruction.
    /// </summary>
    StepTrap,

    /// <summary>
    /// PAUSE retired (RIP past it): the guest is spinning on a condition another vCPU must change, so this one
    /// offers its turn (QEMU TCG's helper_pause ending the CPU's turn).
    /// </summary>
    Yield,
}

/// <summary>An exception raised by an instruction (Intel SDM Vol. 3, 6.3), delivered by the caller.</summary>
public struct PendingException
{
    public byte Vector;
    public bool HasErrorCode;
    public uint ErrorCode;

    /// <summary>The faulting linear address for #PF (CR2).</summary>
    public ulong FaultAddress;
}

/// <summary>Exception vectors (Intel SDM Vol. 3, Table 6-1).</summary>
public static class Vectors
{
    public const byte DivideError = 0;
    public const byte Debug = 1;
    public const byte Nmi = 2;
    public const byte Breakpoint = 3;
    public const byte Overflow = 4;
    public const byte BoundRange = 5;
    public const byte InvalidOpcode = 6;
    public const byte DeviceNotAvailable = 7;
    public const byte DoubleFault = 8;
    public const byte InvalidTss = 10;
    public const byte SegmentNotPresent = 11;
    public const byte StackFault = 12;
    public const byte GeneralProtection = 13;
    public const byte PageFault = 14;
    public const byte FloatingPoint = 16;
    public const byte AlignmentCheck = 17;
    public const byte SimdFloatingPoint = 19;
}
