namespace Hypervisor.Devices.Pci;

/// <summary>Offsets of the type 0 configuration header (PCI Local Bus Spec 3.0, 6.1).</summary>
public static class PciRegisters
{
    public const int VendorId = 0x00;
    public const int DeviceId = 0x02;
    public const int Command = 0x04;
    public const int Status = 0x06;
    public const int RevisionId = 0x08;
    public const int ClassCode = 0x09;
    public const int CacheLineSize = 0x0C;
    public const int LatencyTimer = 0x0D;
    public const int HeaderType = 0x0E;
    public const int Bist = 0x0F;
    public const int Bar0 = 0x10;
    public const int SubsystemVendorId = 0x2C;
    public const int SubsystemId = 0x2E;
    public const int ExpansionRomBar = 0x30;
    public const int CapabilitiesPointer = 0x34;
    public const int InterruptLine = 0x3C;
    public const int InterruptPin = 0x3D;
    public const int MinGnt = 0x3E;
    public const int MaxLat = 0x3F;

    /// <summary>First byte after the type 0 header: capabilities go here.</summary>
    public const int HeaderEnd = 0x40;

    public const int BarCount = 6;

    /// <summary>Header type bit 7: the device has more than one function (6.2.1).</summary>
    public const byte MultiFunction = 0x80;

    /// <summary>Interrupt Line value meaning "unknown / not connected" on x86 (6.2.4).</summary>
    public const byte InterruptLineUnknown = 0xFF;
}

/// <summary>Command register bits (6.2.2).</summary>
[Flags]
public enum PciCommand : ushort
{
    None = 0,
    IoSpace = 1 << 0,
    MemorySpace = 1 << 1,
    BusMaster = 1 << 2,
    SpecialCycles = 1 << 3,
    MemoryWriteAndInvalidate = 1 << 4,
    VgaPaletteSnoop = 1 << 5,
    ParityErrorResponse = 1 << 6,
    SerrEnable = 1 << 8,
    FastBackToBack = 1 << 9,
    InterruptDisable = 1 << 10,
}

/// <summary>Status register bits (6.2.3).</summary>
[Flags]
public enum PciStatus : ushort
{
    None = 0,
    InterruptStatus = 1 << 3,
    CapabilitiesList = 1 << 4,
    Capable66Mhz = 1 << 5,
    FastBackToBackCapable = 1 << 7,
    MasterDataParityError = 1 << 8,
    DevselMedium = 1 << 9,
    SignaledTargetAbort = 1 << 11,
    ReceivedTargetAbort = 1 << 12,
    ReceivedMasterAbort = 1 << 13,
    SignaledSystemError = 1 << 14,
    DetectedParityError = 1 << 15,

    /// <summary>The error bits software clears by writing 1 (6.2.3: "writes can only reset bits").</summary>
    ErrorBits = MasterDataParityError | SignaledTargetAbort | ReceivedTargetAbort | ReceivedMasterAbort |
                SignaledSystemError | DetectedParityError,
}

/// <summary>Capability IDs (PCI Code and ID Assignment Specification).</summary>
public static class PciCapabilityId
{
    public const byte PowerManagement = 0x01;
    public const byte Msi = 0x05;
    public const byte VendorSpecific = 0x09;
    public const byte PciExpress = 0x10;
    public const byte MsiX = 0x11;
}

/// <summary>The Interrupt Pin register value (6.2.4): 0 none, 1..4 INTA#..INTD#.</summary>
public enum PciInterruptPin : byte
{
    None = 0,
    IntA = 1,
    IntB = 2,
    IntC = 3,
    IntD = 4,
}

/// <summary>Bus/device/function of a function on the PCI bus.</summary>
public readonly record struct PciAddress(byte Bus, byte Device, byte Function)
{
    public const int MaxDevices = 32;
    public const int MaxFunctions = 8;

    public override string ToString() => $"{Bus:x2}:{Device:x2}.{Function}";
}
