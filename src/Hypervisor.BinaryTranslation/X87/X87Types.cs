namespace Hypervisor.BinaryTranslation.X87;

/// <summary>
/// x87 status word bits (Intel SDM Vol. 1 §8.1.3, Figure 8-4). Float80 operations OR the exception bits they
/// raise into a caller-supplied value and assign the condition-code bits the instruction defines; TOP (bits
/// 11-13) and B are the caller's (stack management is not numeric semantics).
/// </summary>
[Flags]
public enum X87Status : ushort
{
    None = 0,
    /// <summary>Invalid operation (IE).</summary>
    Invalid = 0x0001,
    /// <summary>Denormal operand (DE).</summary>
    Denormal = 0x0002,
    /// <summary>Divide by zero (ZE).</summary>
    ZeroDivide = 0x0004,
    /// <summary>Numeric overflow (OE).</summary>
    Overflow = 0x0008,
    /// <summary>Numeric underflow (UE).</summary>
    Underflow = 0x0010,
    /// <summary>Inexact result / precision (PE).</summary>
    Precision = 0x0020,
    /// <summary>Stack fault (SF); only the stack manager raises it.</summary>
    StackFault = 0x0040,
    /// <summary>Exception summary (ES): set by the caller when an unmasked exception bit is set.</summary>
    ErrorSummary = 0x0080,
    C0 = 0x0100,
    /// <summary>C1: "rounded up" for rounding operations (SDM §8.1.3.1), sign for FXAM, Q0 for FPREM.</summary>
    C1 = 0x0200,
    C2 = 0x0400,
    C3 = 0x4000,

    ExceptionMask = Invalid | Denormal | ZeroDivide | Overflow | Underflow | Precision,
    ConditionCodes = C0 | C1 | C2 | C3,
}

/// <summary>x87 rounding control, control word bits 10-11 (SDM Vol. 1 Table 4-8).</summary>
public enum X87Rounding
{
    NearestEven = 0,
    Down = 1,
    Up = 2,
    TowardZero = 3,
}

/// <summary>x87 precision control, control word bits 8-9 (SDM Vol. 1 Table 8-2).</summary>
public enum X87Precision
{
    Single = 0,
    /// <summary>Reserved encoding. Hardware rounds to 64 bits with it (measured on the host; SDM calls it reserved).</summary>
    Reserved = 1,
    Double = 2,
    Extended = 3,
}

/// <summary>
/// The x87 control word (SDM Vol. 1 §8.1.5, Figure 8-6): exception masks in bits 0-5, PC in 8-9, RC in 10-11.
/// </summary>
public readonly record struct X87Control(ushort Value)
{
    /// <summary>FNINIT state 037FH: all exceptions masked, 64-bit precision, round to nearest (SDM Vol. 2 FINIT/FNINIT).</summary>
    public static X87Control Default => new(0x037F);

    public X87Rounding Rounding => (X87Rounding)((Value >> 10) & 3);
    public X87Precision Precision => (X87Precision)((Value >> 8) & 3);

    /// <summary>Mask bits of the control word share positions with the status word exception bits.</summary>
    public X87Status Masks => (X87Status)(Value & 0x3F);

    public bool IsMasked(X87Status exception) => (Masks & exception) == exception;

    /// <summary>Exceptions in <paramref name="raised"/> whose mask bit is clear (the ones that would fault).</summary>
    public X87Status Unmasked(X87Status raised) => raised & X87Status.ExceptionMask & ~Masks;

    /// <summary>
    /// Whether an instruction that raised <paramref name="raised"/> must leave its destination unwritten: unmasked
    /// IE/DE/ZE fault before the result exists (SDM §8.5.1-3); unmasked OE/UE also suppress a memory store, while a
    /// register destination receives the rebiased result (§8.5.4-5); an unmasked PE still stores (§8.5.6).
    /// </summary>
    public bool SuppressesStore(X87Status raised, bool memoryDestination)
    {
        X87Status pre = X87Status.Invalid | X87Status.Denormal | X87Status.ZeroDivide;
        if (memoryDestination)
            pre |= X87Status.Overflow | X87Status.Underflow;
        return (Unmasked(raised) & pre) != 0;
    }

    public X87Control WithRounding(X87Rounding rc) => new((ushort)((Value & ~0x0C00) | ((int)rc << 10)));
    public X87Control WithPrecision(X87Precision pc) => new((ushort)((Value & ~0x0300) | ((int)pc << 8)));
    public X87Control WithMasks(X87Status masks) => new((ushort)((Value & ~0x3F) | ((int)masks & 0x3F)));

    /// <summary>Significand bits the precision-control field rounds FADD/FSUB/FMUL/FDIV/FSQRT to (SDM §8.1.5.2).</summary>
    internal int SignificandBits => Precision switch
    {
        X87Precision.Single => 24,
        X87Precision.Double => 53,
        _ => 64,
    };
}

/// <summary>
/// x87 operand classes (SDM Vol. 1 §8.2.2 Table 8-3 and §8.2.3 on unsupported encodings). Pentium Pro and later
/// never produce unnormals, pseudo-NaNs or pseudo-infinities and reject them as invalid operands; pseudo-denormals
/// are still accepted as denormals (SDM §8.2.2).
/// </summary>
public enum Float80Class
{
    Zero,
    Denormal,
    PseudoDenormal,
    Normal,
    Infinity,
    QuietNaN,
    SignalingNaN,
    /// <summary>Unnormal, pseudo-NaN or pseudo-infinity: explicit integer bit clear with a non-zero exponent.</summary>
    Unsupported,
}

/// <summary>FXAM result classes as encoded in C3,C2,C0 (SDM Vol. 2 FXAM, Table 3-47). Empty is the caller's (tag word).</summary>
public enum X87ExamineClass
{
    Unsupported = 0b000,
    NaN = 0b001,
    Normal = 0b010,
    Infinity = 0b011,
    Zero = 0b100,
    Empty = 0b101,
    Denormal = 0b110,
}

/// <summary>Result of FCOM/FUCOM/FTST/FCOMI (SDM Vol. 2 FCOM Table 3-21): C3,C2,C0 = 000, 001, 100, 111.</summary>
public enum X87Comparison
{
    Greater,
    Less,
    Equal,
    Unordered,
}
