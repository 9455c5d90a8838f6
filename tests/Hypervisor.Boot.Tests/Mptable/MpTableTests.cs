using Hypervisor.Boot.Mptable;
using Hypervisor.Boot.Tests.Support;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.Mptable;

/// <summary>The MP tables read back from guest memory as an OS does (MP Specification 1.4, chapter 4).</summary>
public sealed class MpTableTests : IDisposable
{
    private readonly GuestMemory _memory = GuestMemory.CreatePc(32 << 20);

    public void Dispose() => _memory.Dispose();

    private sealed record Entry(byte Type, byte[] Bytes);

    private (byte[] Pointer, byte[] Config, List<Entry> Entries) Read(int cpus)
    {
        MpTable.Write(_memory, cpus);
        // An OS searches 0xF0000-0xFFFFF on 16-byte boundaries for "_MP_" (4.1).
        ulong found = 0;
        for (ulong a = 0xF0000; a < 0x100000; a += 16)
            if (_memory.Read<uint>(a) == 0x5F504D5F) { found = a; break; }
        Assert.NotEqual(0UL, found);
        byte[] pointer = _memory.GetReadOnlySpan(found, 16).ToArray();
        ulong configAddress = pointer.U32(4);
        int length = _memory.Read<ushort>(configAddress + 4);
        byte[] config = _memory.GetReadOnlySpan(configAddress, length).ToArray();

        var entries = new List<Entry>();
        for (int o = 44, n = 0; n < config.U16(34); n++)
        {
            int size = config[o] == 0 ? 20 : 8;
            entries.Add(new Entry(config[o], config[o..(o + size)]));
            o += size;
        }
        return (pointer, config, entries);
    }

    [Fact]
    public void Floating_pointer_and_configuration_table_are_valid_and_checksummed()
    {
        var (pointer, config, entries) = Read(2);
        Assert.Equal("_MP_", pointer.Ascii(0, 4));
        Assert.Equal(1, pointer[8]);
        Assert.Equal(4, pointer[9]);
        Assert.Equal(0, Bytes.Sum(pointer));
        Assert.Equal(0, pointer[11]); // a configuration table is present, not a default configuration

        Assert.Equal("PCMP", config.Ascii(0, 4));
        Assert.Equal(4, config[6]);
        Assert.Equal(0, Bytes.Sum(config));
        Assert.Equal(0xFEE00000u, config.U32(36));
        Assert.Equal(0, config.U16(40)); // no extended table
        int expectedLength = 44 + entries.Sum(e => e.Bytes.Length);
        Assert.Equal(expectedLength, config.U16(4));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(255)]
    public void One_enabled_processor_per_cpu_and_only_cpu_0_is_the_bootstrap_processor(int cpus)
    {
        var processors = Read(cpus).Entries.Where(e => e.Type == 0).ToList();
        Assert.Equal(cpus, processors.Count);
        for (int i = 0; i < cpus; i++)
        {
            Assert.Equal(i, processors[i].Bytes[1]);
            Assert.Equal(1, processors[i].Bytes[3] & 1);
            Assert.Equal(i == 0 ? 2 : 0, processors[i].Bytes[3] & 2);
        }
    }

    [Fact]
    public void Entries_come_in_the_order_the_specification_asks()
    {
        var types = Read(2).Entries.Select(e => e.Type).ToList();
        var sorted = types.OrderBy(t => t).ToList();
        Assert.Equal(sorted, types);
    }

    [Fact]
    public void Buses_ioapic_and_isa_interrupts_are_those_of_a_pc()
    {
        var entries = Read(2).Entries;
        var buses = entries.Where(e => e.Type == 1).ToDictionary(e => e.Bytes.Ascii(2, 6).Trim(), e => e.Bytes[1]);
        Assert.Equal(["ISA", "PCI"], buses.Keys.Order());
        var ioApic = Assert.Single(entries, e => e.Type == 2);
        Assert.Equal(1, ioApic.Bytes[3] & 1);
        Assert.Equal(0xFEC00000u, ioApic.Bytes.U32(4));
        byte ioApicId = ioApic.Bytes[1];

        var isa = entries.Where(e => e.Type == 3 && e.Bytes[4] == buses["ISA"]).ToDictionary(e => e.Bytes[5], e => e.Bytes);
        Assert.Equal(2, isa[0][7]);           // the PIT's IRQ 0 arrives at pin 2
        Assert.False(isa.ContainsKey(2));     // the cascade has no pin
        Assert.Equal(4, isa[4][7]);
        Assert.Equal(0xD, isa[9].U16(2));     // SCI: level, active high
        Assert.All(isa.Values, e => Assert.Equal(ioApicId, e[6]));
    }

    [Fact]
    public void Pci_interrupts_follow_the_piix_swizzle_to_gsi_10_and_11()
    {
        var entries = Read(1).Entries;
        byte pciBus = entries.Single(e => e.Type == 1 && e.Bytes.Ascii(2, 3) == "PCI").Bytes[1];
        var pci = entries.Where(e => e.Type == 3 && e.Bytes[4] == pciBus).ToList();
        Assert.Equal(31 * 4, pci.Count);
        foreach (var e in pci)
        {
            int slot = e.Bytes[5] >> 2, pin = e.Bytes[5] & 3;
            int pirq = (slot + pin) % 4;
            Assert.Equal(pirq < 2 ? 10 : 11, e.Bytes[7]);
            Assert.Equal(0xD, e.Bytes.U16(2));
        }
        Assert.Equal(10, pci.Single(e => e.Bytes[5] == (1 << 2 | 0)).Bytes[7]);
        Assert.Equal(11, pci.Single(e => e.Bytes[5] == (2 << 2 | 0)).Bytes[7]);
    }

    [Fact]
    public void Lint0_is_extint_and_lint1_is_nmi_on_every_local_apic()
    {
        var local = Read(2).Entries.Where(e => e.Type == 4).ToDictionary(e => e.Bytes[7], e => e.Bytes);
        Assert.Equal(3, local[0][1]);
        Assert.Equal(1, local[1][1]);
        Assert.All(local.Values, e => Assert.Equal(0xFF, e[6]));
    }
}
