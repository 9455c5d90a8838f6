namespace Hypervisor.BinaryTranslation.State;

/// <summary>Model-specific register numbers the engine implements (Intel SDM Vol. 4, Table 2-2; AMD APM Vol. 2, A.2).</summary>
public static class MsrIndex
{
    public const uint Tsc = 0x10;

    /// <summary>IA32_PLATFORM_ID (read-only): bits 52:50 name the platform for microcode matching.</summary>
    public const uint PlatformId = 0x17;

    public const uint ApicBase = 0x1B;
    public const uint FeatureControl = 0x3A;
    public const uint TscAdjust = 0x3B;

    /// <summary>IA32_BIOS_SIGN_ID: the microcode update signature in bits 63:32.</summary>
    public const uint BiosSignId = 0x8B;

    /// <summary>IA32_MTRRCAP (read-only): VCNT, FIX, WC, SMRR.</summary>
    public const uint MtrrCap = 0xFE;

    /// <summary>IA32_ARCH_CAPABILITIES (read-only; CPUID.(EAX=7,ECX=0):EDX[29]).</summary>
    public const uint ArchCapabilities = 0x10A;

    public const uint SysenterCs = 0x174;
    public const uint SysenterEsp = 0x175;
    public const uint SysenterEip = 0x176;
    public const uint McgCap = 0x179;
    public const uint McgStatus = 0x17A;
    public const uint MiscEnable = 0x1A0;
    public const uint DebugCtl = 0x1D9;

    /// <summary>IA32_MTRR_PHYSBASE0; PHYSMASKn is at 0x201 + 2n, PHYSBASEn at 0x200 + 2n.</summary>
    public const uint MtrrPhysBase0 = 0x200;

    public const uint MtrrFix64K00000 = 0x250;
    public const uint MtrrFix16K80000 = 0x258;
    public const uint MtrrFix16KA0000 = 0x259;

    /// <summary>IA32_MTRR_FIX4K_C0000 .. IA32_MTRR_FIX4K_F8000 are 0x268 .. 0x26F.</summary>
    public const uint MtrrFix4KC0000 = 0x268;

    public const uint MtrrFix4KF8000 = 0x26F;
    public const uint Pat = 0x277;
    public const uint MtrrDefType = 0x2FF;
    public const uint TscDeadline = 0x6E0;
    public const uint Efer = 0xC000_0080;
    public const uint Star = 0xC000_0081;
    public const uint Lstar = 0xC000_0082;
    public const uint Cstar = 0xC000_0083;
    public const uint Sfmask = 0xC000_0084;
    public const uint FsBase = 0xC000_0100;
    public const uint GsBase = 0xC000_0101;
    public const uint KernelGsBase = 0xC000_0102;
    public const uint TscAux = 0xC000_0103;
}
