using Hypervisor.Platform;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Acpi;

/// <summary>
/// The Multiple APIC Description Table (ACPI 6.0, 5.2.12): one enabled local APIC per CPU, the IOAPIC, the
/// ISA interrupt overrides a PC has, and LINT1 as NMI.
/// </summary>
internal static class Madt
{
    public const byte Revision = 4;
    private const uint PcAtCompatible = 1;

    private const byte TypeLocalApic = 0, TypeIoApic = 1, TypeInterruptOverride = 2, TypeLocalApicNmi = 4;
    private const uint LocalApicEnabled = 1;

    // MPS INTI flags (5.2.12.5 Table 5-50): polarity in bits 0-1 (1 = high), trigger in bits 2-3 (1 = edge, 3 = level).
    public const ushort EdgeHigh = 0x5, LevelHigh = 0xD;

    public static byte[] Build(int cpuCount, byte ioApicId)
    {
        var w = AcpiTable.Begin("APIC", Revision);
        w.U32((uint)PcMemoryLayout.LapicBase).U32(PcAtCompatible);
        for (int cpu = 0; cpu < cpuCount; cpu++)
            w.U8(TypeLocalApic).U8(8).U8(cpu).U8(cpu).U32(LocalApicEnabled);
        w.U8(TypeIoApic).U8(12).U8(ioApicId).U8(0).U32((uint)PcMemoryLayout.IoApicBase).U32(0);

        foreach (var (irq, gsi, flags) in InterruptOverrides())
            w.U8(TypeInterruptOverride).U8(10).U8(0).U8(irq).U32(gsi).U16(flags);

        // Processor UID 0xFF: every processor's LINT1 is the NMI input, conforming polarity and trigger.
        w.U8(TypeLocalApicNmi).U8(6).U8(0xFF).U16(0).U8(1);
        return AcpiTable.Finish(w);
    }

    /// <summary>
    /// ISA IRQ 0 arrives at GSI 2; the SCI and the PCI interrupt lines are level-triggered, active high, the way
    /// hv's devices drive them (QEMU describes its PC the same way).
    /// </summary>
    public static IEnumerable<(byte Irq, uint Gsi, ushort Flags)> InterruptOverrides()
    {
        yield return (PcPlatform.PitIrq, PcPlatform.PitGsi, EdgeHigh);
        yield return (PcPlatform.SciIrq, PcPlatform.SciIrq, LevelHigh);
        foreach (byte gsi in PcPlatform.PciGsis)
            yield return (gsi, gsi, LevelHigh);
    }
}
