using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// IA32_PAT and the MTRRs (Intel SDM Vol. 3, 13.11 and 13.12). Guest memory is coherent host memory, so memory
/// types change nothing here; the registers exist and validate as the SDM specifies because operating systems
/// program and read them back (Linux disables PAT when the MTRRs look disabled). hv runs no firmware before the
/// kernel, so a register never written holds what PC firmware leaves: MTRRs enabled, write-back by default, the
/// legacy VGA window uncacheable, no variable ranges; PAT at its power-up value.
/// </summary>
public static class MsrMemoryTypes
{
    /// <summary>IA32_PAT power-up value: WB, WT, UC-, UC, repeated (Vol. 3, 13.12.4).</summary>
    public const ulong PatDefault = 0x0007_0406_0007_0406;

    /// <summary>8 variable ranges, fixed ranges (FIX, bit 8), write-combining (WC, bit 10); no SMRR.</summary>
    public const ulong MtrrCapValue = 8 | 1UL << 8 | 1UL << 10;

    public const int VariableRanges = 8;

    /// <summary>IA32_MTRR_DEF_TYPE: E (bit 11) and FE (bit 10) set, default type WB.</summary>
    public const ulong DefTypeDefault = 1UL << 11 | 1UL << 10 | 6;

    private const ulong FixedWriteBack = 0x0606_0606_0606_0606;

    /// <summary>Memory types an MTRR may hold: UC, WC, WT, WP, WB (2, 3 and 7 are reserved).</summary>
    private static bool ValidMtrrType(ulong type) => type is 0 or 1 or 4 or 5 or 6;

    /// <summary>PAT entries may also hold UC- (7).</summary>
    private static bool ValidPatType(ulong type) => type is 0 or 1 or 4 or 5 or 6 or 7;

    public static bool IsMtrr(uint index) =>
        index is MsrIndex.MtrrCap or MsrIndex.MtrrDefType or MsrIndex.MtrrFix64K00000 or MsrIndex.MtrrFix16K80000
            or MsrIndex.MtrrFix16KA0000
        || index is >= MsrIndex.MtrrFix4KC0000 and <= MsrIndex.MtrrFix4KF8000
        || index is >= MsrIndex.MtrrPhysBase0 and < MsrIndex.MtrrPhysBase0 + 2 * VariableRanges;

    /// <summary>The value of a PAT or MTRR register that was never written.</summary>
    public static ulong Default(uint index) => index switch
    {
        MsrIndex.Pat => PatDefault,
        MsrIndex.MtrrCap => MtrrCapValue,
        MsrIndex.MtrrDefType => DefTypeDefault,
        MsrIndex.MtrrFix16KA0000 => 0,
        MsrIndex.MtrrFix64K00000 or MsrIndex.MtrrFix16K80000 => FixedWriteBack,
        >= MsrIndex.MtrrFix4KC0000 and <= MsrIndex.MtrrFix4KF8000 => FixedWriteBack,
        _ => 0,
    };

    /// <summary>Whether <paramref name="value"/> may be written to a PAT or MTRR register; MTRRcap is read-only.</summary>
    public static bool Valid(uint index, ulong value, int physicalAddressBits)
    {
        ulong physicalMask = (1UL << physicalAddressBits) - 1;
        switch (index)
        {
            case MsrIndex.MtrrCap:
                return false;
            case MsrIndex.Pat:
                for (int i = 0; i < 8; i++)
                    if (!ValidPatType(value >> (8 * i) & 0xFF)) return false;
                return true;
            case MsrIndex.MtrrDefType:
                return (value & ~0xCFFUL) == 0 && ValidMtrrType(value & 0xFF);
            case >= MsrIndex.MtrrPhysBase0 and < MsrIndex.MtrrPhysBase0 + 2 * VariableRanges:
                if ((index & 1) == 0)
                {
                    // IA32_MTRR_PHYSBASEn: type in 7:0, 11:8 reserved, base in (MAXPHYADDR-1):12.
                    return (value & 0xF00) == 0 && (value & ~physicalMask) == 0 && ValidMtrrType(value & 0xFF);
                }
                // IA32_MTRR_PHYSMASKn: 10:0 reserved, V in bit 11, mask in (MAXPHYADDR-1):12.
                return (value & 0x7FF) == 0 && (value & ~physicalMask) == 0;
            default:
                // Fixed-range MTRRs: eight type fields.
                for (int i = 0; i < 8; i++)
                    if (!ValidMtrrType(value >> (8 * i) & 0xFF)) return false;
                return true;
        }
    }
}
