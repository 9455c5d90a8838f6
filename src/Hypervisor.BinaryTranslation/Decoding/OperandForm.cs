using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Decoding;

/// <summary>The operand shape of a two-operand instruction, as Iced reports it.</summary>
public enum OperandForm
{
    Unsupported,

    /// <summary>reg, reg</summary>
    RegReg,

    /// <summary>reg, imm</summary>
    RegImm,

    /// <summary>reg, mem</summary>
    RegMem,

    /// <summary>mem, reg</summary>
    MemReg,

    /// <summary>mem, imm</summary>
    MemImm,
}

public static class OperandForms
{
    public static bool IsImmediate(OpKind k) => k is OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32
        or OpKind.Immediate64 or OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64
        or OpKind.Immediate32to64 or OpKind.Immediate8_2nd;

    public static OperandForm Of(in Instruction ins, int first = 0)
    {
        var a = ins.GetOpKind(first);
        var b = ins.GetOpKind(first + 1);
        if (a == OpKind.Register)
        {
            if (b == OpKind.Register) return OperandForm.RegReg;
            if (b == OpKind.Memory) return OperandForm.RegMem;
            if (IsImmediate(b)) return OperandForm.RegImm;
        }
        else if (a == OpKind.Memory)
        {
            if (b == OpKind.Register) return OperandForm.MemReg;
            if (IsImmediate(b)) return OperandForm.MemImm;
        }
        return OperandForm.Unsupported;
    }
}
