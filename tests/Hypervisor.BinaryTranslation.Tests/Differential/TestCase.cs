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

    /// <summary>
    /// x87 transcendentals (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1): the SDM bounds their results
    /// to 1 ulp, not to the correctly rounded value, so each ST register may differ from the host by one unit in the
    /// last place (adjacent encodings of the same sign); when one does, FSW.C1 ("rounded up") is not compared.
    /// Everything else - classes, specials, C0/C2/C3, exception flags, TOP, tags - must match exactly.
    /// </summary>
    public bool X87UlpTolerance;

    /// <summary>True when the instruction must raise #DE (checked independently of the engine): not run natively.</summary>
    public bool ExpectDivideError;

    public override string ToString() =>
        $"{Instruction} [{Convert.ToHexString(Code)}] ({Instruction.Code}) rflags={Rflags:x} " +
        string.Join(" ", Gprs.Select((v, i) => $"{(Register.RAX + i)}={v:x}"));
}
