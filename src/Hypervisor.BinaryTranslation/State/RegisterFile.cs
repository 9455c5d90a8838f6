using System.Runtime.CompilerServices;

namespace Hypervisor.BinaryTranslation.State;

/// <summary>
/// RAX..R15, then a slot that always reads zero (an absent base or index register), then RIP. Decoded ops name
/// registers by byte offset into this file, so AH is offset 1 and an absent base costs no branch.
/// </summary>
[InlineArray(Count)]
public struct RegisterFile
{
    public const int Count = 18;
    public const int ZeroSlot = 16;
    public const int RipSlot = 17;

    /// <summary>Byte offset of the always-zero slot.</summary>
    public const byte ZeroOffset = ZeroSlot * 8;

    /// <summary>Byte offset of RIP (used as the base of RIP-relative operands).</summary>
    public const byte RipOffset = RipSlot * 8;

    private ulong _element0;
}

/// <summary>Segment registers in their x86 encoding order (ModRM.reg of MOV Sreg).</summary>
public enum SegmentIndex : byte
{
    Es, Cs, Ss, Ds, Fs, Gs,
}

/// <summary>Segment bases as the address calculation uses them (64-bit mode forces ES/CS/SS/DS to 0).</summary>
[InlineArray(8)]
public struct SegmentBases
{
    private ulong _element0;
}
