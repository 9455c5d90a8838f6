using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Tests.Differential;

/// <summary>One generated instruction with its starting state.</summary>
public sealed class TestCase
{
    public required Instruction Instruction;
    public required byte[] Code;
    public readonly ulong[] Gprs = new ulong[16];
    public ulong Rflags;
    public required byte[] Data;
    public required byte[] Stack;

    /// <summary>x87/SSE state in FXSAVE layout: default x87 part, random XMM registers and MXCSR flags.</summary>
    public required byte[] FxSave;

    /// <summary>Flags the SDM leaves undefined for this instruction and these operands: not compared.</summary>
    public ulong UndefinedFlags;

    /// <summary>Registers whose result is undefined (e.g. SHLD r16 with a count above 16): not compared.</summary>
    public ushort UndefinedRegisters;

    /// <summary>The memory result is undefined: the data area is not compared.</summary>
    public bool UndefinedMemory;

    /// <summary>
    /// Data-area bytes that legitimately differ: FXSAVE's MXCSR_MASK, which describes the CPU model (this host
    /// reports 0x2FFFF with AMD's misaligned-SSE bit; the engine's model has 0xFFFF).
    /// </summary>
    public (int Offset, int Length) IgnoredData;

    /// <summary>True when the instruction must raise #DE (checked independently of the engine): not run natively.</summary>
    public bool ExpectDivideError;

    public override string ToString() =>
        $"{Instruction} [{Convert.ToHexString(Code)}] ({Instruction.Code}) rflags={Rflags:x} " +
        string.Join(" ", Gprs.Select((v, i) => $"{(Register.RAX + i)}={v:x}"));
}
