using global::System.Buffers.Binary;
using System.Globalization;
using global::System.Runtime.InteropServices;

namespace Hypervisor.BinaryTranslation.X87;

/// <summary>
/// The x87 80-bit double extended-precision value, bit for bit as it sits in a data register and in memory
/// (FLD/FSTP m80): a 64-bit significand whose bit 63 is the explicit integer bit J, then a 16-bit word holding the
/// 15-bit biased exponent (bias 16383) and the sign in bit 15. Ten bytes little-endian, significand first.
/// <para>
/// Encodings (SDM Vol. 1 §4.2.2, Table 4-3, and §8.2.2): exponent 0 with J=0 is zero or a denormal, exponent 0 with
/// J=1 a pseudo-denormal (read as the same value with exponent 1, raising DE like a denormal); exponents 1..7FFE
/// with J=1 are normals; exponent 7FFF with J=1 is infinity (fraction 0) or a NaN, quiet when bit 62 is set. The
/// "real indefinite" default NaN is sign 1, exponent 7FFF, significand C000000000000000 (SDM §4.8.3.7). Any
/// non-zero exponent with J=0 (unnormal, pseudo-NaN, pseudo-infinity) is an unsupported format that the Pentium
/// Pro and later reject with IE, answering the indefinite (SDM §8.2.3).
/// </para>
/// <para>
/// Arithmetic (Float80.Arithmetic.cs, Float80.Rounding.cs) follows IEEE 754 as the x87 implements it: results
/// are rounded once under the control word's RC and PC fields, PC narrowing the significand to 24/53 bits but
/// keeping the 15-bit exponent range (SDM §8.1.5.2); tininess is detected after rounding; masked responses follow
/// SDM §4.9.1 and §8.5 (Table 8-10 for invalid operations, Table 4-7 for NaN propagation: of two NaNs the
/// larger significand wins and an SNaN is quieted); unmasked OE/UE on a register destination rebias the exponent
/// by 24576 (§8.5.4, §8.5.5). Every operation takes an <see cref="X87Control"/> and a <c>ref X87Status</c> into
/// which it ORs the exceptions it raises and in which it assigns the condition codes it defines (C1 = rounded up).
/// When IE, DE or ZE is raised and unmasked, the instruction would fault before writing anything: the operation
/// then returns immediately with only that exception reported, and the caller must not store its result.
/// The tests in tests/Hypervisor.BinaryTranslation.Tests/X87 compare all of this bit for bit with the host FPU.
/// </para>
/// <para>
/// Files: Float80.Rounding.cs (the one rounding step: PC/RC, tininess, masked and unmasked OE/UE responses),
/// Float80.Arithmetic.cs (FADD/FSUB/FMUL/FDIV/FSQRT, NaN rules), Float80.Conversions.cs (FILD/FIST/FISTTP,
/// FLD/FST m32/m64, FBLD/FBSTP, FRNDINT), Float80.Operations.cs (FCOM/FUCOM/FTST, FXAM, FPREM/FPREM1, FSCALE,
/// FXTRACT, FLDxx constants), Float80.Transcendental.cs (FSIN..FYL2XP1: correctly rounded from 320-bit
/// evaluations, within 1 ulp of the hardware). Stack management (TOP, tags, SF with C1) is the interpreter's.
/// </para>
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 2)]
public readonly partial struct Float80 : IEquatable<Float80>
{
    public const int ExponentBias = 16383;
    public const int MaxBiasedExponent = 0x7FFF;
    internal const ulong IntegerBit = 0x8000_0000_0000_0000;
    internal const ulong QuietBit = 0x4000_0000_0000_0000;

    /// <summary>Significand with the explicit integer bit in bit 63.</summary>
    public readonly ulong Significand;

    /// <summary>Sign in bit 15, biased exponent in bits 0-14.</summary>
    public readonly ushort SignExponent;

    public Float80(ulong significand, ushort signExponent)
    {
        Significand = significand;
        SignExponent = signExponent;
    }

    public Float80(bool negative, int biasedExponent, ulong significand)
        : this(significand, (ushort)((negative ? 0x8000 : 0) | (biasedExponent & 0x7FFF)))
    {
    }

    public static Float80 PositiveZero => new(0, 0);
    public static Float80 NegativeZero => new(0, 0x8000);
    public static Float80 PositiveInfinity => new(IntegerBit, 0x7FFF);
    public static Float80 NegativeInfinity => new(IntegerBit, 0xFFFF);
    public static Float80 One => new(IntegerBit, ExponentBias);

    /// <summary>The QNaN floating-point indefinite every masked invalid operation returns (SDM §4.8.3.7).</summary>
    public static Float80 Indefinite => new(0xC000_0000_0000_0000, 0xFFFF);

    public static Float80 MaxValue => new(ulong.MaxValue, 0x7FFE);

    public bool IsNegative => (SignExponent & 0x8000) != 0;
    public int BiasedExponent => SignExponent & 0x7FFF;

    public Float80Class Class
    {
        get
        {
            int e = BiasedExponent;
            bool j = (Significand & IntegerBit) != 0;
            if (e == 0)
                return Significand == 0 ? Float80Class.Zero : j ? Float80Class.PseudoDenormal : Float80Class.Denormal;
            if (!j)
                return Float80Class.Unsupported;
            if (e != MaxBiasedExponent)
                return Float80Class.Normal;
            ulong fraction = Significand & ~IntegerBit;
            if (fraction == 0)
                return Float80Class.Infinity;
            return (fraction & QuietBit) != 0 ? Float80Class.QuietNaN : Float80Class.SignalingNaN;
        }
    }

    public bool IsZero => BiasedExponent == 0 && Significand == 0;
    public bool IsNaN => Class is Float80Class.QuietNaN or Float80Class.SignalingNaN;
    public bool IsSignalingNaN => Class == Float80Class.SignalingNaN;
    public bool IsInfinity => Class == Float80Class.Infinity;

    /// <summary>Denormal or pseudo-denormal: the operands that raise DE (SDM §4.9.1.2, §8.2.2).</summary>
    public bool IsDenormal => BiasedExponent == 0 && Significand != 0;

    public bool IsUnsupported => Class == Float80Class.Unsupported;

    /// <summary>Finite and non-zero (normal, denormal or pseudo-denormal).</summary>
    internal bool IsFiniteNonZero => Class is Float80Class.Normal or Float80Class.Denormal or Float80Class.PseudoDenormal;

    public Float80 Negate() => new(Significand, (ushort)(SignExponent ^ 0x8000));
    public Float80 Abs() => new(Significand, (ushort)(SignExponent & 0x7FFF));
    internal Float80 WithSign(bool negative) => new(Significand, (ushort)((SignExponent & 0x7FFF) | (negative ? 0x8000 : 0)));

    /// <summary>The NaN with its quiet bit set (SDM §4.8.3.4: an SNaN operand is converted to a QNaN).</summary>
    internal Float80 Quieted() => new(Significand | QuietBit, SignExponent);

    public static Float80 FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 10)
            throw new ArgumentException("An 80-bit value needs 10 bytes.", nameof(bytes));
        return new(BinaryPrimitives.ReadUInt64LittleEndian(bytes), BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]));
    }

    public void WriteBytes(Span<byte> destination)
    {
        if (destination.Length < 10)
            throw new ArgumentException("An 80-bit value needs 10 bytes.", nameof(destination));
        BinaryPrimitives.WriteUInt64LittleEndian(destination, Significand);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], SignExponent);
    }

    public byte[] ToBytes()
    {
        var b = new byte[10];
        WriteBytes(b);
        return b;
    }

    public bool Equals(Float80 other) => Significand == other.Significand && SignExponent == other.SignExponent;
    public override bool Equals(object? obj) => obj is Float80 f && Equals(f);
    public override int GetHashCode() => HashCode.Combine(Significand, SignExponent);
    public static bool operator ==(Float80 a, Float80 b) => a.Equals(b);
    public static bool operator !=(Float80 a, Float80 b) => !a.Equals(b);

    /// <summary>Encoding first (exact), then an approximate decimal value for humans.</summary>
    public override string ToString()
    {
        string bits = string.Create(CultureInfo.InvariantCulture, $"{SignExponent:X4}:{Significand:X16}");
        return Class switch
        {
            Float80Class.Zero => $"{bits} ({(IsNegative ? "-" : "+")}0)",
            Float80Class.Infinity => $"{bits} ({(IsNegative ? "-" : "+")}inf)",
            Float80Class.QuietNaN => $"{bits} (QNaN)",
            Float80Class.SignalingNaN => $"{bits} (SNaN)",
            Float80Class.Unsupported => $"{bits} (unsupported)",
            _ => string.Create(CultureInfo.InvariantCulture, $"{bits} ({ToDoubleApproximation():R})"),
        };
    }

    /// <summary>Nearest double by simple scaling, for diagnostics only (use ToFloat64 for FST semantics).</summary>
    internal double ToDoubleApproximation()
    {
        int e = BiasedExponent == 0 ? 1 : BiasedExponent;
        double v = Math.ScaleB((double)Significand, e - ExponentBias - 63);
        return IsNegative ? -v : v;
    }

    /// <summary>
    /// Splits a finite non-zero operand into sign, unbiased exponent and a significand normalized to bit 63, so
    /// that value = sig * 2^(exp - 63). Denormals and pseudo-denormals share exponent 1 - bias (SDM §8.2.2).
    /// </summary>
    internal void Unpack(out bool sign, out int exp, out ulong sig)
    {
        sign = IsNegative;
        sig = Significand;
        exp = (BiasedExponent == 0 ? 1 : BiasedExponent) - ExponentBias;
        int lz = global::System.Numerics.BitOperations.LeadingZeroCount(sig);
        sig <<= lz;
        exp -= lz;
    }
}
