using Hypervisor.Boot.Acpi;
using Hypervisor.Boot.E820;
using Hypervisor.Boot.Mptable;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot;

/// <summary>
/// What a direct kernel boot needs in place of a BIOS: the ACPI tables at 0xE0000, the MP table at 0xF0000, and
/// the E820 map that reserves both. Write these before loading the kernel and pass <see cref="MemoryMap"/> and
/// <see cref="RsdpAddress"/> to the loader.
/// </summary>
public sealed class FirmwareTables
{
    private FirmwareTables(AcpiTables acpi, ulong mpTableAddress, E820Map memoryMap)
    {
        Acpi = acpi;
        MpTableAddress = mpTableAddress;
        MemoryMap = memoryMap;
    }

    public AcpiTables Acpi { get; }
    public ulong RsdpAddress => Acpi.RsdpAddress;
    public ulong MpTableAddress { get; }
    public E820Map MemoryMap { get; }

    /// <param name="cpuCount">Processors with APIC IDs 0..N-1; CPU 0 boots.</param>
    /// <param name="ioApicId">0, as QEMU's MADT and the IOAPIC's reset value have it.</param>
    public static FirmwareTables Write(GuestMemory memory, int cpuCount, byte ioApicId = 0)
    {
        var acpi = AcpiTables.Build(cpuCount, ioApicId);
        if (acpi.End > BootMemoryLayout.AcpiTablesEnd)
            throw new InvalidOperationException($"the ACPI tables end at 0x{acpi.End:x}, past their area");
        acpi.WriteTo(memory);
        ulong mpEnd = MpTable.Write(memory, cpuCount, ioApicId);
        if (mpEnd > BootMemoryLayout.MpTableEnd)
            throw new InvalidOperationException($"the MP table ends at 0x{mpEnd:x}, past 1 MiB");
        return new FirmwareTables(acpi, BootMemoryLayout.MpTable, E820Map.CreatePc(memory, acpi.MemoryMapEntry));
    }
}
