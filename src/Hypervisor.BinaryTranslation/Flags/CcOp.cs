namespace Hypervisor.BinaryTranslation.Flags;

/// <summary>
/// The kind of the last flag-setting operation, QEMU's cc_op. The lazy state is (kind, size, result, src1, src2);
/// the status flags are computed from it only when an instruction reads them. <see cref="Eager"/> means they are
/// already in <c>CpuContext.Rflags</c>. A stored <c>CcOp</c> value is <c>kind &lt;&lt; 2 | log2(operand bytes)</c>.
/// </summary>
public enum CcKind
{
    Eager = 0,

    /// <summary>ADD, and ADC with carry-in 0. src1 + src2 = result.</summary>
    Add,

    /// <summary>ADC with carry-in 1.</summary>
    AddCarry,

    /// <summary>SUB, CMP, NEG (src1 = 0), SBB with borrow-in 0, CMPS/SCAS, CMPXCHG. src1 - src2 = result.</summary>
    Sub,

    /// <summary>SBB with borrow-in 1.</summary>
    SubBorrow,

    /// <summary>AND/OR/XOR/TEST: CF = OF = 0.</summary>
    Logic,

    /// <summary>INC: src1 + 1; src2 holds the preserved CF (INC does not change CF).</summary>
    Inc,

    /// <summary>DEC: src1 - 1; src2 holds the preserved CF.</summary>
    Dec,

    /// <summary>SHL/SAL by a non-zero count: src1 = operand shifted by count - 1.</summary>
    Shl,

    /// <summary>SHR by a non-zero count: src1 = operand shifted by count - 1, src2 = original operand.</summary>
    Shr,

    /// <summary>SAR by a non-zero count: src1 = sign-extended operand shifted by count - 1.</summary>
    Sar,
}
