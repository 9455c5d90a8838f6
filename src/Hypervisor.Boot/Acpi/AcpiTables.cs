using Hypervisor.Boot.E820;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Acpi;

/// <summary>
/// The ACPI tables of hv's PC for a direct kernel boot: RSDP, RSDT, XSDT, FADT, FACS, DSDT and MADT, laid out
/// from one base address (by default 0xE0000, where an OS searching for the RSDP finds it).
/// </summary>
public sealed class AcpiTables
{
    private AcpiTables(ulong rsdpAddress, IReadOnlyList<AcpiBlob> tables)
    {
        RsdpAddress = rsdpAddress;
        Tables = tables;
    }

    public ulong RsdpAddress { get; }

    /// <summary>Every table with its address, the RSDP first.</summary>
    public IReadOnlyList<AcpiBlob> Tables { get; }

    public ulong Start => Tables[0].Address;
    public ulong End => Tables.Max(t => t.End);

    /// <summary>The range to report as ACPI memory in the E820 map, whole pages.</summary>
    public E820Entry MemoryMapEntry => new(Start & ~0xFFFUL, ((End + 0xFFF) & ~0xFFFUL) - (Start & ~0xFFFUL), E820Type.Acpi);

    /// <param name="cpuCount">Processors 0..N-1, APIC IDs equal to their index (1-255).</param>
    /// <param name="ioApicId">The IOAPIC's ID; hv uses 0, which is QEMU's choice and the IOAPIC's reset value.</param>
    public static AcpiTables Build(int cpuCount, byte ioApicId = 0, ulong baseAddress = BootMemoryLayout.AcpiTables)
    {
        if (cpuCount is < 1 or > 255)
            throw new ArgumentOutOfRangeException(nameof(cpuCount), cpuCount, "the MADT describes 1 to 255 xAPIC processors (APIC ID 0xFF is the broadcast ID)");
        if (baseAddress % 16 != 0) throw new ArgumentException("the RSDP must be 16-byte aligned", nameof(baseAddress));

        var tables = new List<AcpiBlob>();
        ulong cursor = baseAddress + RootTables.RsdpLength;
        ulong Place(string signature, byte[] bytes, ulong alignment)
        {
            cursor = (cursor + alignment - 1) / alignment * alignment;
            tables.Add(new AcpiBlob(signature, cursor, bytes));
            cursor += (ulong)bytes.Length;
            return tables[^1].Address;
        }

        // The FACS must be 64-byte aligned (5.2.10); the others only need natural alignment.
        ulong facs = Place("FACS", RootTables.Facs(), 64);
        ulong dsdt = Place("DSDT", Dsdt.Build(), 16);
        ulong fadt = Place("FACP", Fadt.Build(facs, dsdt), 16);
        ulong madt = Place("APIC", Madt.Build(cpuCount, ioApicId), 16);
        ulong rsdt = Place("RSDT", RootTables.Rsdt([fadt, madt]), 16);
        ulong xsdt = Place("XSDT", RootTables.Xsdt([fadt, madt]), 16);
        tables.Insert(0, new AcpiBlob("RSD PTR ", baseAddress, RootTables.Rsdp(rsdt, xsdt)));
        if (cursor > PcMemoryLayout.FourGiB) throw new ArgumentException("ACPI tables must lie below 4 GiB");
        return new AcpiTables(baseAddress, tables);
    }

    public void WriteTo(GuestMemory memory)
    {
        foreach (var table in Tables) memory.Load(table.Address, table.Bytes);
    }
}
