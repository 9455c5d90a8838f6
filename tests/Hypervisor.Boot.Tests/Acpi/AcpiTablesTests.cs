using Hypervisor.Boot.Acpi;
using Hypervisor.Boot.Tests.Support;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.Acpi;

/// <summary>The tables checked by the ACPI specification's checksums and by ACPICA's own disassembler.</summary>
public class AcpiTablesTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(64)]
    public void Every_table_checksums_to_zero(int cpus)
    {
        var acpi = AcpiTables.Build(cpus);
        foreach (var table in acpi.Tables)
        {
            if (table.Signature == "FACS") continue; // the FACS has no checksum (ACPI 6.0, 5.2.10)
            if (table.Signature == "RSD PTR ")
            {
                Assert.Equal(0, Bytes.Sum(table.Bytes.AsSpan(0, 20)));
                Assert.Equal(36u, table.Bytes.U32(20));
            }
            else
            {
                Assert.Equal((uint)table.Bytes.Length, table.Bytes.U32(4));
            }
            Assert.Equal(0, Bytes.Sum(table.Bytes));
        }
    }

    [Fact]
    public void Rsdp_points_to_rsdt_and_xsdt_which_list_fadt_and_madt()
    {
        var acpi = AcpiTables.Build(2);
        var rsdp = acpi.Tables[0];
        Assert.Equal("RSD PTR ", rsdp.Bytes.Ascii(0, 8));
        Assert.Equal(0xE0000UL, rsdp.Address);
        Assert.Equal(2, rsdp.Bytes[15]);
        var rsdt = Find(acpi, rsdp.Bytes.U32(16));
        var xsdt = Find(acpi, rsdp.Bytes.U64(24));
        Assert.Equal("RSDT", rsdt.Signature);
        Assert.Equal("XSDT", xsdt.Signature);
        var fromRsdt = new[] { rsdt.Bytes.U32(36), rsdt.Bytes.U32(40) }.Select(a => Find(acpi, a).Signature);
        var fromXsdt = new[] { xsdt.Bytes.U64(36), xsdt.Bytes.U64(44) }.Select(a => Find(acpi, a).Signature);
        Assert.Equal(["FACP", "APIC"], fromRsdt);
        Assert.Equal(["FACP", "APIC"], fromXsdt);
        Assert.Equal(44, rsdt.Bytes.Length);
        Assert.Equal(52, xsdt.Bytes.Length);
    }

    [Fact]
    public void Fadt_describes_the_pm_device_the_sci_and_the_reset_register()
    {
        var acpi = AcpiTables.Build(1);
        var fadt = acpi.Tables.Single(t => t.Signature == "FACP").Bytes;
        Assert.Equal(276, fadt.Length);
        Assert.Equal(6, fadt[8]);
        Assert.Equal("FACS", Find(acpi, fadt.U32(36)).Signature);
        Assert.Equal("DSDT", Find(acpi, fadt.U32(40)).Signature);
        Assert.Equal(fadt.U32(36), fadt.U64(132));
        Assert.Equal(fadt.U32(40), fadt.U64(140));
        Assert.Equal(9, fadt.U16(46));
        Assert.Equal(0u, fadt.U32(48));
        Assert.Equal(0x600u, fadt.U32(56));
        Assert.Equal(0x604u, fadt.U32(64));
        Assert.Equal(0x608u, fadt.U32(76));
        Assert.Equal([4, 2, 0, 4], fadt[88..92]);
        // X_ blocks: SystemIO, widths matching the legacy lengths, same ports.
        AssertIoGas(fadt, 148, 32, 0x600);
        AssertIoGas(fadt, 172, 16, 0x604);
        AssertIoGas(fadt, 208, 32, 0x608);
        AssertIoGas(fadt, 116, 8, 0xCF9);
        Assert.Equal(0x06, fadt[128]);
        uint flags = fadt.U32(112);
        Assert.NotEqual(0u, flags & (1 << 10)); // RESET_REG_SUP
        Assert.NotEqual(0u, flags & 1);          // WBINVD
        Assert.Equal(0u, flags & (1 << 20));     // not HW_REDUCED_ACPI
        Assert.Equal(3, fadt.U16(109));          // LEGACY_DEVICES | 8042
    }

    [Fact]
    public void Madt_has_one_enabled_local_apic_per_cpu_the_ioapic_and_the_pc_overrides()
    {
        const int cpus = 4;
        var madt = AcpiTables.Build(cpus).Tables.Single(t => t.Signature == "APIC").Bytes;
        Assert.Equal(0xFEE00000u, madt.U32(36));
        Assert.Equal(1u, madt.U32(40));
        var apicIds = new List<int>();
        var overrides = new Dictionary<int, (uint Gsi, ushort Flags)>();
        int ioApics = 0, nmis = 0;
        for (int o = 44; o < madt.Length; o += madt[o + 1])
        {
            Assert.True(madt[o + 1] >= 2);
            switch (madt[o])
            {
                case 0:
                    Assert.Equal(1u, madt.U32(o + 4) & 1);
                    apicIds.Add(madt[o + 3]);
                    break;
                case 1:
                    ioApics++;
                    Assert.Equal(0, madt[o + 2]);
                    Assert.Equal(0xFEC00000u, madt.U32(o + 4));
                    Assert.Equal(0u, madt.U32(o + 8));
                    break;
                case 2:
                    overrides[madt[o + 3]] = (madt.U32(o + 4), madt.U16(o + 8));
                    break;
                case 4:
                    nmis++;
                    Assert.Equal(0xFF, madt[o + 2]);
                    Assert.Equal(1, madt[o + 5]);
                    break;
            }
        }
        Assert.Equal(Enumerable.Range(0, cpus), apicIds);
        Assert.Equal(1, ioApics);
        Assert.Equal(1, nmis);
        Assert.Equal((2u, (ushort)0x5), overrides[0]);
        Assert.Equal((9u, (ushort)0xD), overrides[9]);
        Assert.Equal((10u, (ushort)0xD), overrides[10]);
        Assert.Equal((11u, (ushort)0xD), overrides[11]);
    }

    [Fact]
    public void Tables_are_written_into_guest_memory_at_their_addresses()
    {
        using var memory = GuestMemory.CreatePc(64 << 20);
        var tables = FirmwareTables.Write(memory, 2);
        foreach (var table in tables.Acpi.Tables)
            Assert.Equal(table.Bytes, memory.GetReadOnlySpan(table.Address, table.Bytes.Length).ToArray());
        var acpiRange = tables.MemoryMap.Entries.Single(e => e.Type == Hypervisor.Boot.E820.E820Type.Acpi);
        Assert.True(acpiRange.Address <= tables.Acpi.Start && acpiRange.End >= tables.Acpi.End);
    }

    private static AcpiBlob Find(AcpiTables acpi, ulong address) => acpi.Tables.Single(t => t.Address == address);

    private static void AssertIoGas(byte[] fadt, int offset, int bitWidth, ulong port)
    {
        Assert.Equal(1, fadt[offset]);
        Assert.Equal(bitWidth, fadt[offset + 1]);
        Assert.Equal(port, fadt.U64(offset + 4));
    }
}
