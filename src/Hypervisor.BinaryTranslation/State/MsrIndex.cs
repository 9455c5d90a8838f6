namespace Hypervisor.BinaryTranslation.State;

/// <summary>Model-specific register numbers the engine implements (Intel SDM Vol. 4, Table 2-2; AMD APM Vol. 2, A.2).</summary>
public static class MsrIndex
{
    public const uint Tsc = 0x10;
    public const uint ApicBase = 0x1B;
    public const uint FeatureControl = 0x3A;
    public const uint TscAdjust = 0x3B;
    public const uint SysenterCs = 0x174;
    public const uint SysenterEsp = 0x175;
    public const uint SysenterEip = 0x176;
    public const uint MiscEnable = 0x1A0;
    public const uint Pat = 0x277;
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
