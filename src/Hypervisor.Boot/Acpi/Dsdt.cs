using Hypervisor.Platform;
using Hypervisor.Boot.Acpi.Aml;
using Hypervisor.Platform.Memory;
using static Hypervisor.Boot.Acpi.Aml.Aml;

namespace Hypervisor.Boot.Acpi;

/// <summary>
/// The Differentiated System Description Table: \_S5 for soft off, the PCI host bridge with its resources and
/// interrupt routing, and the legacy ISA devices Linux looks up by PNP ID.
/// </summary>
internal static class Dsdt
{
    /// <summary>Revision 2 makes AML integers 64-bit (ACPI 6.0, 5.2.11.1).</summary>
    public const byte Revision = 2;

    private const uint PciVgaWindowStart = 0xA_0000, PciVgaWindowEnd = 0xB_FFFF;

    public static byte[] Build()
    {
        var w = AcpiTable.Begin("DSDT", Revision);
        w.Bytes(SleepStateS5());
        w.Bytes(Scope("\\_SB", PciHostBridge(), Com1(), Keyboard(), Mouse(), Rtc()));
        return AcpiTable.Finish(w);
    }

    /// <summary>
    /// \_S5: SLP_TYPa, SLP_TYPb and two reserved values (7.4.2). The PM device powers off on SLP_TYP 5 with
    /// SLP_EN.
    /// </summary>
    private static byte[] SleepStateS5() =>
        Name("\\_S5", Package(Integer(PcPlatform.SleepTypeS5), Integer(PcPlatform.SleepTypeS5), Integer(0), Integer(0)));

    private static byte[] PciHostBridge()
    {
        var resources = new ResourceTemplate()
            .WordBusNumber(0x00, 0xFF)
            .Io(0xCF8, 0xCF8, 1, 8)
            .WordIo(0x0000, 0x0CF7)
            .WordIo(0x0D00, 0xFFFF)
            .DWordMemory(PciVgaWindowStart, PciVgaWindowEnd, cacheable: true)
            .DWordMemory((uint)PcMemoryLayout.PciMmio32Start, (uint)PcMemoryLayout.IoApicBase - 1, cacheable: false);
        // No _ADR next to the _HID: a device has one or the other, not both (ACPI 6.0, 6.1.1).
        return Device("PCI0",
            Name("_HID", EisaId("PNP0A03")),
            Name("_BBN", Integer(0)),
            Name("_UID", Integer(0)),
            Name("_CRS", resources.ToAml()),
            Name("_PRT", RoutingTable()));
    }

    /// <summary>
    /// _PRT (6.2.13): for each slot and pin an entry {address 0xSSSSFFFF, pin, 0, GSI}. A zero source means the
    /// last field is a global system interrupt, so no PCI link devices are needed.
    /// </summary>
    private static byte[] RoutingTable()
    {
        var entries = new List<byte[]>();
        for (int slot = PcPlatform.FirstPciSlot; slot <= PcPlatform.LastPciSlot; slot++)
            for (int pin = 0; pin < 4; pin++)
                entries.Add(Package(
                    Integer((ulong)slot << 16 | 0xFFFF),
                    Integer((ulong)pin),
                    Integer(0),
                    Integer(PcPlatform.PciGsi(slot, pin))));
        return Package([.. entries]);
    }

    private static byte[] Com1() => Device("COM1",
        Name("_HID", EisaId("PNP0501")),
        Name("_UID", Integer(1)),
        Name("_CRS", new ResourceTemplate().Io(0x3F8, 0x3F8, 1, 8).IrqNoFlags(PcPlatform.ComIrq).ToAml()));

    private static byte[] Keyboard() => Device("KBD",
        Name("_HID", EisaId("PNP0303")),
        Name("_CRS", new ResourceTemplate().Io(0x60, 0x60, 1, 1).Io(0x64, 0x64, 1, 1)
            .IrqNoFlags(PcPlatform.KeyboardIrq).ToAml()));

    private static byte[] Mouse() => Device("MOU",
        Name("_HID", EisaId("PNP0F13")),
        Name("_CRS", new ResourceTemplate().IrqNoFlags(PcPlatform.MouseIrq).ToAml()));

    private static byte[] Rtc() => Device("RTC",
        Name("_HID", EisaId("PNP0B00")),
        Name("_CRS", new ResourceTemplate().Io(0x70, 0x70, 1, 2).IrqNoFlags(PcPlatform.RtcIrq).ToAml()));
}
