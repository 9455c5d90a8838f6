using System.Buffers.Binary;
using System.Text;
using Hypervisor.Boot.Firmware;
using Hypervisor.Boot.Tests.Support;

namespace Hypervisor.Boot.Tests.Firmware;

/// <summary>
/// Runs etc/table-loader the way a firmware does (QEMU's bios-linker-loader.h, SeaBIOS's romfile_loader.c) at
/// arbitrary addresses, then checks the relocated tables as an OS would find them.
/// </summary>
public class AcpiTableLoaderTests
{
    private sealed class Placed(byte[] data, ulong address)
    {
        public byte[] Data { get; } = (byte[])data.Clone();
        public ulong Address { get; } = address;
    }

    private static Dictionary<string, Placed> Execute(AcpiTableLoader loader, ulong highAddress, ulong fsegAddress)
    {
        var files = new Dictionary<string, byte[]>
        {
            [AcpiTableLoader.RsdpFile] = loader.Rsdp,
            [AcpiTableLoader.TablesFile] = loader.Tables,
        };
        var placed = new Dictionary<string, Placed>();
        byte[] script = loader.Loader;
        Assert.Equal(0, script.Length % AcpiTableLoader.CommandSize);
        for (int at = 0; at < script.Length; at += AcpiTableLoader.CommandSize)
        {
            byte[] command = script.AsSpan(at, AcpiTableLoader.CommandSize).ToArray();
            var c = command.AsSpan();
            string Name(int offset) => Encoding.ASCII.GetString(command, offset, 56).TrimEnd((char)0);
            switch (BinaryPrimitives.ReadUInt32LittleEndian(c))
            {
                case 1:
                    uint align = BinaryPrimitives.ReadUInt32LittleEndian(c[60..]);
                    byte zone = c[64];
                    ulong address = zone == 2 ? fsegAddress : highAddress;
                    Assert.Equal(0UL, address % align);
                    placed.Add(Name(4), new Placed(files[Name(4)], address));
                    break;
                case 2:
                {
                    var dest = placed[Name(4)];
                    var src = placed[Name(60)];
                    int offset = (int)BinaryPrimitives.ReadUInt32LittleEndian(c[116..]);
                    byte size = c[120];
                    var field = dest.Data.AsSpan(offset, size);
                    if (size == 4) BinaryPrimitives.WriteUInt32LittleEndian(field, (uint)(BinaryPrimitives.ReadUInt32LittleEndian(field) + src.Address));
                    else BinaryPrimitives.WriteUInt64LittleEndian(field, BinaryPrimitives.ReadUInt64LittleEndian(field) + src.Address);
                    break;
                }
                case 3:
                {
                    var file = placed[Name(4)];
                    int result = (int)BinaryPrimitives.ReadUInt32LittleEndian(c[60..]);
                    int start = (int)BinaryPrimitives.ReadUInt32LittleEndian(c[64..]);
                    int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(c[68..]);
                    file.Data[result] -= Bytes.Sum(file.Data.AsSpan(start, length));
                    break;
                }
                default:
                    Assert.Fail($"unknown loader command {BinaryPrimitives.ReadUInt32LittleEndian(c)}");
                    break;
            }
        }
        return placed;
    }

    [Theory]
    [InlineData(1, 0x1FFE_0000UL, 0xF_5A40UL)]
    [InlineData(4, 0x7FF0_0040UL, 0xF_0000UL)]
    public void Relocated_tables_point_at_each_other_and_checksum(int cpus, ulong high, ulong fseg)
    {
        var placed = Execute(AcpiTableLoader.Build(cpus), high, fseg);
        var rsdp = placed[AcpiTableLoader.RsdpFile].Data;
        var tables = placed[AcpiTableLoader.TablesFile];
        Assert.Equal("RSD PTR ", rsdp.Ascii(0, 8));
        Assert.Equal(0, Bytes.Sum(rsdp.AsSpan(0, 20)));
        Assert.Equal(0, Bytes.Sum(rsdp.AsSpan(0, 36)));

        byte[] Table(ulong address, string signature)
        {
            Assert.InRange(address, high, high + (ulong)tables.Data.Length - 36);
            int offset = (int)(address - high);
            Assert.Equal(signature, tables.Data.Ascii(offset, 4));
            int length = signature == "FACS" ? 64 : (int)tables.Data.U32(offset + 4);
            var t = tables.Data.AsSpan(offset, length).ToArray();
            if (signature != "FACS") Assert.Equal(0, Bytes.Sum(t));
            return t;
        }

        var rsdt = Table(rsdp.U32(16), "RSDT");
        var xsdt = Table(rsdp.U64(24), "XSDT");
        Assert.Equal((rsdt.Length - 36) / 4, (xsdt.Length - 36) / 8);
        var signatures = new List<string>();
        for (int i = 36; i < rsdt.Length; i += 4)
        {
            Assert.Equal(rsdt.U32(i), xsdt.U64(36 + (i - 36) * 2));
            signatures.Add(tables.Data.Ascii((int)(rsdt.U32(i) - high), 4));
        }
        Assert.Equal(["FACP", "APIC"], signatures);
        var fadt = Table(rsdt.U32(36), "FACP");
        Table(fadt.U32(36), "FACS");
        Table(fadt.U32(40), "DSDT");
        Assert.Equal(fadt.U32(36), fadt.U64(132));
        Assert.Equal(fadt.U32(40), fadt.U64(140));
        Assert.Equal(0UL, fadt.U32(36) % 64);
        var madt = Table(rsdt.U32(40), "APIC");
        Assert.Equal(cpus, Enumerable.Range(0, madt.Length).Count(i => i >= 44 && IsLapicEntry(madt, i)));
    }

    /// <summary>Walks the MADT's entries from offset 44 and says whether one starts at <paramref name="at"/>.</summary>
    private static bool IsLapicEntry(byte[] madt, int at)
    {
        for (int i = 44; i < madt.Length; i += madt[i + 1])
            if (i == at) return madt[i] == 0;
        return false;
    }

    [Fact]
    public void The_tables_file_holds_no_rsdp()
    {
        var loader = AcpiTableLoader.Build(1);
        Assert.DoesNotContain("RSD PTR", Encoding.ASCII.GetString(loader.Tables));
    }
}
