using Hypervisor.Platform;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Mptable;

/// <summary>
/// The Intel MultiProcessor Specification 1.4 tables (chapter 4): the MP floating pointer structure and a
/// configuration table with the processors, the ISA and PCI buses, the IOAPIC and the interrupt routing of hv's
/// PC. Linux uses them when ACPI is off or absent; they describe the same machine as the MADT and _PRT.
/// </summary>
public static class MpTable
{
    public const byte SpecRevision = 4;

    private const byte EntryProcessor = 0, EntryBus = 1, EntryIoApic = 2, EntryIoInterrupt = 3, EntryLocalInterrupt = 4;
    private const byte InterruptInt = 0, InterruptNmi = 1, InterruptExtInt = 3;
    private const byte CpuEnabled = 1, CpuBootstrap = 2;

    /// <summary>An integrated local APIC (version 1xh) and the 82093AA-style IOAPIC version KVM also reports.</summary>
    private const byte LocalApicVersion = 0x14, IoApicVersion = 0x11;

    /// <summary>Family 6 signature and CPUID.1:EDX with FPU and APIC present, for processor entries.</summary>
    private const uint CpuSignature = 0x600, CpuFeatures = 1 << 0 | 1 << 9;

    /// <summary>MPS INTI flags (Table 4-10): PO bits 0-1 (1 = high), EL bits 2-3 (1 = edge, 3 = level).</summary>
    private const ushort Conforming = 0, EdgeHigh = 0x5, LevelHigh = 0xD;

    public const byte PciBusId = 0, IsaBusId = 1;

    /// <summary>
    /// Writes the floating pointer at <paramref name="address"/> (16-byte aligned, in a range the OS searches)
    /// and the configuration table right after it. Returns the end of what was written.
    /// </summary>
    public static ulong Write(GuestMemory memory, int cpuCount, byte ioApicId = 0, ulong address = BootMemoryLayout.MpTable)
    {
        byte[] pointer = Build(cpuCount, ioApicId, address, out byte[] config);
        memory.Load(address, pointer);
        memory.Load(address + 16, config);
        return address + 16 + (ulong)config.Length;
    }

    /// <summary>Builds both structures; the configuration table goes at <paramref name="address"/> + 16.</summary>
    public static byte[] Build(int cpuCount, byte ioApicId, ulong address, out byte[] configurationTable)
    {
        if (cpuCount is < 1 or > 255)
            throw new ArgumentOutOfRangeException(nameof(cpuCount), cpuCount, "the MP table describes 1 to 255 processors (APIC ID 0xFF is the broadcast ID)");
        if (address % 16 != 0 || address + 16 > PcMemoryLayout.FourGiB)
            throw new ArgumentException("the MP floating pointer must be 16-byte aligned below 4 GiB", nameof(address));
        configurationTable = BuildConfiguration(cpuCount, ioApicId);

        var w = new LittleEndianWriter();
        // Feature byte 1 = 0: a configuration table is present; byte 2 bit 7 (IMCRP) = 0: virtual wire mode.
        w.Ascii("_MP_", 4).U32((uint)(address + 16)).U8(1).U8(SpecRevision).U8(0).U8(0).U8(0).Zeros(3);
        w.PatchU8(10, Checksum.Complement(w.Written));
        return w.ToArray();
    }

    private static byte[] BuildConfiguration(int cpuCount, byte ioApicId)
    {
        var w = new LittleEndianWriter();
        w.Ascii("PCMP", 4).U16(0).U8(SpecRevision).U8(0).Ascii("HVHVHV", 8).Ascii("HV PC", 12)
            .U32(0).U16(0).U16(0).U32((uint)PcMemoryLayout.LapicBase).U16(0).U8(0).U8(0);
        int entries = 0;

        // Processor entries come first and the bus entries before anything that names a bus (4.2).
        for (int cpu = 0; cpu < cpuCount; cpu++, entries++)
            w.U8(EntryProcessor).U8(cpu).U8(LocalApicVersion).U8(CpuEnabled | (cpu == 0 ? CpuBootstrap : 0))
                .U32(CpuSignature).U32(CpuFeatures).Zeros(8);
        w.U8(EntryBus).U8(PciBusId).Ascii("PCI", 6); entries++;
        w.U8(EntryBus).U8(IsaBusId).Ascii("ISA", 6); entries++;
        w.U8(EntryIoApic).U8(ioApicId).U8(IoApicVersion).U8(1).U32((uint)PcMemoryLayout.IoApicBase); entries++;

        foreach (var (irq, pin, flags) in IsaInterrupts())
        {
            w.U8(EntryIoInterrupt).U8(InterruptInt).U16(flags).U8(IsaBusId).U8(irq).U8(ioApicId).U8(pin);
            entries++;
        }
        // A PCI source is encoded as device number in bits 2-6 and INTx (0 = INTA) in bits 0-1 (D.3).
        for (int slot = PcPlatform.FirstPciSlot; slot <= PcPlatform.LastPciSlot; slot++)
            for (int pin = 0; pin < 4; pin++, entries++)
                w.U8(EntryIoInterrupt).U8(InterruptInt).U16(LevelHigh).U8(PciBusId).U8(slot << 2 | pin)
                    .U8(ioApicId).U8(PcPlatform.PciGsi(slot, pin));

        // LINT0 takes the 8259's ExtINT (virtual wire), LINT1 is NMI, on every local APIC (0xFF).
        w.U8(EntryLocalInterrupt).U8(InterruptExtInt).U16(Conforming).U8(IsaBusId).U8(0).U8(0xFF).U8(0); entries++;
        w.U8(EntryLocalInterrupt).U8(InterruptNmi).U16(Conforming).U8(IsaBusId).U8(0).U8(0xFF).U8(1); entries++;

        w.PatchU16(4, w.Length);
        w.PatchU16(34, entries);
        w.PatchU8(7, Checksum.Complement(w.Written));
        return w.ToArray();
    }

    /// <summary>
    /// ISA IRQs to IOAPIC inputs: IRQ 0 to pin 2, IRQ 2 (the cascade) absent, the SCI level-triggered, and the
    /// IRQs PCI shares left to the PCI entries.
    /// </summary>
    private static IEnumerable<(byte Irq, byte Pin, ushort Flags)> IsaInterrupts()
    {
        var pci = PcPlatform.PciGsis;
        for (byte irq = 0; irq < 16; irq++)
        {
            if (irq == 2 || pci.Contains(irq)) continue;
            if (irq == PcPlatform.PitIrq) yield return (irq, PcPlatform.PitGsi, Conforming);
            else if (irq == PcPlatform.SciIrq) yield return (irq, irq, LevelHigh);
            else yield return (irq, irq, Conforming);
        }
    }
}
