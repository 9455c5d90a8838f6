namespace Hypervisor.Devices.Pci;

/// <summary>Read/write enables of a PAM segment (82441FX datasheet, PAM[6:0]).</summary>
[Flags]
public enum PamAccess
{
    /// <summary>Accesses go to the PCI bus (the BIOS ROM, option ROMs).</summary>
    None = 0,

    /// <summary>Reads go to DRAM.</summary>
    Read = 1,

    /// <summary>Writes go to DRAM.</summary>
    Write = 2,
}

/// <summary>A BIOS-area range whose reads and writes the PAM registers steer to DRAM or to PCI.</summary>
public readonly record struct PamSegment(ulong Start, ulong Length, PamAccess Access);

/// <summary>
/// The 82441FX PCI and Memory Controller (PMC) of the 440FX chipset at 00:00.0: a host bridge with no BARs
/// (8086:1237, class 06/00, revision 02 as QEMU's pc machine reports it). Of its chipset registers hv models
/// the Programmable Attribute Map that BIOSes use to shadow themselves into RAM; it exposes the segments and an
/// event, and the machine applies them to guest memory.
/// </summary>
public sealed class I440fxHostBridge : PciDevice
{
    public const ushort VendorIntel = 0x8086;
    public const ushort DeviceId82441 = 0x1237;
    public const uint ClassHostBridge = 0x06_00_00;
    public const ushort QemuSubsystemVendor = 0x1AF4, QemuSubsystem = 0x1100;

    /// <summary>PAM0 (0x59) to PAM6 (0x5F).</summary>
    public const int Pam0 = 0x59;
    public const int PamRegisterCount = 7;

    private const int BiosSegment = 0xF_0000;
    private const int FirstExpansionSegment = 0xC_0000;
    private const int ExpansionSegmentSize = 0x4000;

    public I440fxHostBridge()
        : base("i440FX host bridge", VendorIntel, DeviceId82441, ClassHostBridge, revision: 0x02)
    {
        // Datasheet power-on values: PCICMD 0006h, PCISTS 0280h (fast back-to-back capable, medium DEVSEL).
        Config.SetWord(PciRegisters.Command, (ushort)(PciCommand.MemorySpace | PciCommand.BusMaster));
        Config.SetWord(PciRegisters.Status, (ushort)(PciStatus.FastBackToBackCapable | PciStatus.DevselMedium));
        // QEMU's subsystem IDs (Red Hat 1AF4h, "QEMU virtual machine" 1100h): SeaBIOS identifies the platform by
        // them at 00:00.0 (qemu_detect) before it trusts fw_cfg and the QEMU-specific chipset setup.
        Config.SetWord(PciRegisters.SubsystemVendorId, QemuSubsystemVendor);
        Config.SetWord(PciRegisters.SubsystemId, QemuSubsystem);
        // PAM0 holds only the 0F0000h-0FFFFFh attributes in bits 5:4; PAM1-6 two 16 KiB segments each, in bits 1:0
        // and 5:4; the remaining bits are reserved.
        Config.SetWriteMask(Pam0, 1, 0x30);
        Config.SetWriteMask(Pam0 + 1, 4, 0x3333_3333);
        Config.SetWriteMask(Pam0 + 5, 2, 0x3333);
    }

    /// <summary>Raised under the device lock after a guest write changed a PAM register.</summary>
    public event Action<I440fxHostBridge>? PamChanged;

    /// <summary>The 13 PAM segments: 0F0000h (64 KiB) first, then 0C0000h-0EFFFFh in 16 KiB steps.</summary>
    public IReadOnlyList<PamSegment> PamSegments
    {
        get
        {
            lock (SyncRoot)
            {
                var segments = new List<PamSegment>(13)
                {
                    new(BiosSegment, 0x1_0000, (PamAccess)((Config.GetByte(Pam0) >> 4) & 3)),
                };
                for (int i = 0; i < 12; i++)
                {
                    byte pam = Config.GetByte(Pam0 + 1 + i / 2);
                    var access = (PamAccess)((i % 2 == 0 ? pam : pam >> 4) & 3);
                    segments.Add(new((ulong)(FirstExpansionSegment + i * ExpansionSegmentSize), ExpansionSegmentSize, access));
                }
                return segments;
            }
        }
    }

    protected override void OnConfigWritten(int offset, int size, uint value)
    {
        if (offset < Pam0 + PamRegisterCount && Pam0 < offset + size) PamChanged?.Invoke(this);
    }

    protected override void OnReset() => PamChanged?.Invoke(this);
}
