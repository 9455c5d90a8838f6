namespace Hypervisor.BinaryTranslation.Decoding;

/// <summary>
/// A straight-line run of decoded instructions ending at a control transfer, a state change or a page boundary.
/// The last op always returns false (a branch, or an appended end-of-block op), so the interpreter's inner loop
/// needs no counter.
/// </summary>
public sealed class Block
{
    public Block(Op[] ops, int instructionCount, ulong physical, ulong secondPage, uint modeKey)
    {
        Ops = ops;
        InstructionCount = instructionCount;
        Physical = physical;
        SecondPage = secondPage;
        ModeKey = modeKey;
    }

    public Op[] Ops { get; }

    /// <summary>Guest instructions in the block (the appended end-of-block op is not one).</summary>
    public int InstructionCount { get; }

    /// <summary>Guest-physical address of the first byte.</summary>
    public ulong Physical { get; }

    /// <summary>The physical page the last instruction spills into, or <see cref="NoPage"/>.</summary>
    public ulong SecondPage { get; }

    public uint ModeKey { get; }

    /// <summary>How the debug step treats the block's first instruction (TF and #DB rules that depend on it).</summary>
    public StepKind FirstStepKind { get; init; }

    public const ulong NoPage = ulong.MaxValue;

    /// <summary>False once a write to its code invalidated it; a link to it must not be followed.</summary>
    public bool Valid = true;

    // Two successor links (taken and fall-through), valid for one translation generation: following a link
    // skips the lookup when the next RIP is what it was last time.
    public ulong LinkRipA, LinkRipB;
    public Block? LinkA, LinkB;
    public uint LinkGenerationA, LinkGenerationB;
}

/// <summary>Instructions whose single-step and #DB behaviour differs from "trap after it if TF was set before it".</summary>
public enum StepKind : byte
{
    Normal,

    /// <summary>INT n, INT3, INTO, INT1: when the interrupt is delivered, TF is cleared and no single-step trap follows.</summary>
    SoftwareInterrupt,

    /// <summary>SYSCALL, SYSRET: the single-step trap depends on TF after the instruction (FMASK, R11).</summary>
    SystemCall,

    /// <summary>MOV SS, POP SS: debug exceptions wait until the instruction boundary after the next instruction.</summary>
    StackSegmentLoad,
}
