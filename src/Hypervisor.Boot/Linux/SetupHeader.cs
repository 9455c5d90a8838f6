namespace Hypervisor.Boot.Linux;

/// <summary>
/// Offsets of the real-mode kernel header fields, identical in the bzImage file and in boot_params
/// (Documentation/arch/x86/boot.rst, "The real-mode kernel header").
/// </summary>
public static class SetupHeader
{
    public const int Start = 0x1F1;
    public const int SetupSects = 0x1F1;
    public const int SysSize = 0x1F4;
    public const int VidMode = 0x1FA;
    public const int BootFlag = 0x1FE;
    public const int Jump = 0x200;
    public const int Header = 0x202;
    public const int Version = 0x206;
    public const int TypeOfLoader = 0x210;
    public const int LoadFlags = 0x211;
    public const int Code32Start = 0x214;
    public const int RamdiskImage = 0x218;
    public const int RamdiskSize = 0x21C;
    public const int HeapEndPtr = 0x224;
    public const int CmdLinePtr = 0x228;
    public const int InitrdAddrMax = 0x22C;
    public const int KernelAlignment = 0x230;
    public const int RelocatableKernel = 0x234;
    public const int XLoadFlags = 0x236;
    public const int CmdlineSize = 0x238;
    public const int HardwareSubarch = 0x23C;
    public const int PrefAddress = 0x258;
    public const int InitSize = 0x260;

    public const ushort BootFlagValue = 0xAA55;
    public const uint HeaderMagic = 0x5372_6448; // "HdrS"

    public const byte LoadedHigh = 0x01;
    public const byte CanUseHeap = 0x80;
    public const ushort XlfKernel64 = 0x01;

    /// <summary>type_of_loader 0xFF: a boot loader without an assigned ID.</summary>
    public const byte UndefinedLoader = 0xFF;
}

/// <summary>Offsets of the boot_params fields outside the setup header (Documentation/arch/x86/zero-page.rst).</summary>
public static class ZeroPage
{
    public const int Size = 0x1000;
    public const int AcpiRsdpAddr = 0x070;
    public const int ExtRamdiskImage = 0x0C0;
    public const int ExtRamdiskSize = 0x0C4;
    public const int ExtCmdLinePtr = 0x0C8;
    public const int E820Entries = 0x1E8;
    public const int E820Table = 0x2D0;
    public const int E820EntrySize = 20;

    /// <summary>E820_MAX_ENTRIES_ZEROPAGE: the table in boot_params holds 128 entries.</summary>
    public const int E820MaxEntries = 128;
}
