using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.Memory;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.State;

/// <summary>
/// The hot state of one interpreted vCPU: what every handler reads and writes. Cold architectural state
/// (control registers, MSRs, descriptor tables) stays in <see cref="Architectural"/> until P1.4 needs it hot.
/// Convert with <see cref="Load"/> and <see cref="Save"/>.
/// </summary>
public sealed unsafe partial class CpuContext
{
    public RegisterFile Regs;
    public SegmentBases SegBase;

    /// <summary>RFLAGS; the status bits are valid only while <see cref="CcOp"/> is 0 (eager).</summary>
    public ulong Rflags = FlagBits.Reserved1;

    public int CcOp;
    public ulong CcResult, CcSrc1, CcSrc2;

    /// <summary>Selectors and descriptor caches of ES, CS, SS, DS, FS, GS.</summary>
    public readonly SegmentRegister[] Segments = new SegmentRegister[6];

    public CpuMode Mode;
    public int Cpl;

    /// <summary>Linear addresses wrap at 4 GiB outside 64-bit mode.</summary>
    public ulong LinearMask = ulong.MaxValue;

    /// <summary>Default operand/address size of the code segment in bits: 16, 32 or 64.</summary>
    public int CodeBits = 64;

    /// <summary>Stack address size in bits (SS.B, or 64 in 64-bit mode).</summary>
    public int StackBits = 64;

    /// <summary>Everything a decoded block depends on besides its bytes; part of the block cache key.</summary>
    public uint ModeKey;

    /// <summary>Set by a handler that returns false: why the block stopped.</summary>
    public ExitKind Exit;

    public PendingException Exception;

    /// <summary>
    /// STI (when IF was 0), MOV SS and POP SS block interrupts until the next instruction has retired (Intel SDM
    /// Vol. 3, 6.8.3). The handler sets it and ends the block; the backend runs one instruction before it injects.
    /// </summary>
    public bool InterruptShadow;

    /// <summary>A triple fault put the CPU into shutdown; the backend ends or resets the VM by policy.</summary>
    public bool ShutdownPending;

    /// <summary>The local APIC, when the backend provides one.</summary>
    public ILocalApicAccess? LocalApic;

    /// <summary>Guest instructions retired.</summary>
    public long InstructionsRetired;

    /// <summary>Bumped whenever linear-to-physical translation or the mode changes: cached block links are then stale.</summary>
    public uint TranslationGeneration;

    public CpuState Architectural { get; private set; } = CpuState.CreateReset();

    public CpuContext(AddressSpace memory)
    {
        Memory = memory;
        FlushTlb();
        Load(Architectural);
    }

    public AddressSpace Memory { get; }

    public ref ulong Rip
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ref Regs[RegisterFile.RipSlot];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref ulong Gpr(int index) => ref Unsafe.Add(ref Regs[0], index);

    // ---- register access by byte offset (see RegisterFile) ----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref byte RegByte(int offset) => ref Unsafe.AddByteOffset(ref Unsafe.As<ulong, byte>(ref Regs[0]), (nint)offset);

    /// <summary>A register operand of T's width, zero-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong GetReg<T>(int offset) where T : unmanaged
    {
        ref byte p = ref RegByte(offset);
        if (typeof(T) == typeof(byte)) return p;
        if (typeof(T) == typeof(ushort)) return Unsafe.ReadUnaligned<ushort>(ref p);
        if (typeof(T) == typeof(uint)) return Unsafe.ReadUnaligned<uint>(ref p);
        return Unsafe.ReadUnaligned<ulong>(ref p);
    }

    /// <summary>
    /// Writes a register operand: 8/16-bit writes merge into the register, 32-bit writes zero the upper half
    /// (Intel SDM Vol. 1, 3.4.1.1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetReg<T>(int offset, ulong value) where T : unmanaged
    {
        ref byte p = ref RegByte(offset);
        if (typeof(T) == typeof(byte)) p = (byte)value;
        else if (typeof(T) == typeof(ushort)) Unsafe.WriteUnaligned(ref p, (ushort)value);
        else if (typeof(T) == typeof(uint)) Unsafe.WriteUnaligned(ref p, (ulong)(uint)value);
        else Unsafe.WriteUnaligned(ref p, value);
    }

    // ---- faults ----

    /// <summary>Raises a fault and returns false, so a handler can <c>return c.Fault(...)</c>.</summary>
    public bool Fault(byte vector)
    {
        Exit = ExitKind.Exception;
        Exception = new PendingException { Vector = vector };
        return false;
    }

    public bool Fault(byte vector, uint errorCode)
    {
        Exit = ExitKind.Exception;
        Exception = new PendingException { Vector = vector, HasErrorCode = true, ErrorCode = errorCode };
        return false;
    }

    public bool PageFault(ulong linear, uint errorCode)
    {
        Exit = ExitKind.Exception;
        Exception = new PendingException
        {
            Vector = Vectors.PageFault, HasErrorCode = true, ErrorCode = errorCode, FaultAddress = linear,
        };
        return false;
    }

    // ---- flags ----

    /// <summary>Records the lazy flag state of an operation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetCc(int ccOp, ulong result, ulong src1, ulong src2)
    {
        CcOp = ccOp;
        CcResult = result;
        CcSrc1 = src1;
        CcSrc2 = src2;
    }

    /// <summary>The full RFLAGS value with the status flags materialised.</summary>
    public ulong GetRflags()
    {
        if (CcOp == 0) return Rflags;
        return (Rflags & ~FlagBits.Status) | LazyFlags.Compute(CcOp, CcResult, CcSrc1, CcSrc2);
    }

    /// <summary>Materialises the status flags into <see cref="Rflags"/> so a handler can edit single bits.</summary>
    public void MaterializeFlags()
    {
        if (CcOp == 0) return;
        Rflags = (Rflags & ~FlagBits.Status) | LazyFlags.Compute(CcOp, CcResult, CcSrc1, CcSrc2);
        CcOp = 0;
    }

    /// <summary>Replaces the status flags with eagerly computed ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetStatusFlags(ulong status)
    {
        Rflags = (Rflags & ~FlagBits.Status) | (status & FlagBits.Status);
        CcOp = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Carry() =>
        CcOp == 0 ? Rflags & FlagBits.CF : LazyFlags.ComputeCarry(CcOp, CcResult, CcSrc1, CcSrc2);

    /// <summary>Direction of string operations: +1 or -1 (DF, Intel SDM Vol. 1, 3.4.3.2).</summary>
    public bool DirectionDown
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Rflags & FlagBits.DF) != 0;
    }
}
