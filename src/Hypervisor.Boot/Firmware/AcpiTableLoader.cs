using System.Buffers.Binary;
using System.Text;
using Hypervisor.Boot.Acpi;

namespace Hypervisor.Boot.Firmware;

/// <summary>
/// hv's ACPI tables handed to a BIOS as QEMU hands its own to SeaBIOS and OVMF (hw/acpi/bios-linker-loader.c):
/// the RSDP in "etc/acpi/rsdp", every other table in "etc/acpi/tables", and a script in "etc/table-loader" that
/// tells the firmware to place both files, add each file's final address to the pointers that refer into it and
/// fix the checksums. The tables are laid out from address 0, so every pointer holds an offset into the tables
/// file until the firmware relocates it. A BIOS that runs the script describes exactly hv's hardware (the PM
/// block, the MADT, the DSDT) instead of guessing with tables of its own.
/// </summary>
public sealed class AcpiTableLoader
{
    public const string LoaderFile = "etc/table-loader";
    public const string RsdpFile = "etc/acpi/rsdp";
    public const string TablesFile = "etc/acpi/tables";

    /// <summary>Loader commands are 128 bytes; file names in them hold 56 bytes with the NUL.</summary>
    public const int CommandSize = 128;
    private const int FileNameSize = 56;

    private const uint CommandAllocate = 1, CommandAddPointer = 2, CommandAddChecksum = 3;
    private const byte ZoneHigh = 1, ZoneFSeg = 2;

    private const int HeaderChecksumOffset = 9, HeaderLength = 36;
    private const int RsdpChecksumOffset = 8, RsdpV1Length = 20, RsdpRsdtOffset = 16, RsdpXsdtOffset = 24,
        RsdpExtendedChecksumOffset = 32;
    private const int FadtFacsOffset = 36, FadtDsdtOffset = 40, FadtXFacsOffset = 132, FadtXDsdtOffset = 140;

    private readonly List<byte[]> _commands = [];

    private AcpiTableLoader(byte[] rsdp, byte[] tables)
    {
        Rsdp = rsdp;
        Tables = tables;
    }

    public byte[] Rsdp { get; }
    public byte[] Tables { get; }
    public byte[] Loader => [.. _commands.SelectMany(c => c)];

    public static AcpiTableLoader Build(int cpuCount, byte ioApicId = 0)
    {
        var acpi = AcpiTables.Build(cpuCount, ioApicId, baseAddress: 0);
        var rsdpBlob = acpi.Tables[0];
        var tables = new byte[acpi.End];
        foreach (var t in acpi.Tables.Skip(1)) t.Bytes.CopyTo(tables, (int)t.Address);
        var loader = new AcpiTableLoader(rsdpBlob.Bytes, tables);

        // FACS needs 64-byte alignment in memory; the RSDP must be in the F segment on a 16-byte boundary.
        loader.Allocate(TablesFile, 64, ZoneHigh);
        loader.Allocate(RsdpFile, 16, ZoneFSeg);
        foreach (var t in acpi.Tables.Skip(1))
        {
            int at = (int)t.Address;
            switch (t.Signature)
            {
                case "RSDT":
                    for (int o = HeaderLength; o < t.Bytes.Length; o += 4) loader.AddPointer(tables, TablesFile, at + o, 4);
                    break;
                case "XSDT":
                    for (int o = HeaderLength; o < t.Bytes.Length; o += 8) loader.AddPointer(tables, TablesFile, at + o, 8);
                    break;
                case "FACP":
                    foreach (var (o, size) in new (int, byte)[] { (FadtFacsOffset, 4), (FadtDsdtOffset, 4), (FadtXFacsOffset, 8), (FadtXDsdtOffset, 8) })
                        loader.AddPointer(tables, TablesFile, at + o, size);
                    break;
            }
            // The FACS has no checksum; every other table has the standard header's.
            if (t.Signature != "FACS") loader.AddChecksum(TablesFile, at + HeaderChecksumOffset, at, t.Bytes.Length);
        }
        loader.AddPointer(loader.Rsdp, RsdpFile, RsdpRsdtOffset, 4, TablesFile);
        loader.AddPointer(loader.Rsdp, RsdpFile, RsdpXsdtOffset, 8, TablesFile);
        loader.AddChecksum(RsdpFile, RsdpChecksumOffset, 0, RsdpV1Length);
        loader.AddChecksum(RsdpFile, RsdpExtendedChecksumOffset, 0, loader.Rsdp.Length);
        return loader;
    }

    private void Allocate(string file, uint alignment, byte zone)
    {
        var c = new byte[CommandSize];
        BinaryPrimitives.WriteUInt32LittleEndian(c, CommandAllocate);
        Name(c.AsSpan(4), file);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(4 + FileNameSize), alignment);
        c[4 + FileNameSize + 4] = zone;
        _commands.Add(c);
    }

    /// <summary>A pointer field that holds an offset into <paramref name="source"/>; zero fields are absent ones.</summary>
    private void AddPointer(byte[] data, string destination, int offset, byte size, string source = TablesFile)
    {
        ulong value = size == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(offset))
            : BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(offset));
        if (value == 0) return;
        var c = new byte[CommandSize];
        BinaryPrimitives.WriteUInt32LittleEndian(c, CommandAddPointer);
        Name(c.AsSpan(4), destination);
        Name(c.AsSpan(4 + FileNameSize), source);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(4 + 2 * FileNameSize), (uint)offset);
        c[4 + 2 * FileNameSize + 4] = size;
        _commands.Add(c);
    }

    private void AddChecksum(string file, int resultOffset, int start, int length)
    {
        var c = new byte[CommandSize];
        BinaryPrimitives.WriteUInt32LittleEndian(c, CommandAddChecksum);
        Name(c.AsSpan(4), file);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(4 + FileNameSize), (uint)resultOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(4 + FileNameSize + 4), (uint)start);
        BinaryPrimitives.WriteUInt32LittleEndian(c.AsSpan(4 + FileNameSize + 8), (uint)length);
        _commands.Add(c);
    }

    private static void Name(Span<byte> field, string name)
    {
        int n = Encoding.ASCII.GetBytes(name, field);
        if (n >= FileNameSize) throw new ArgumentException($"loader file name '{name}' is too long", nameof(name));
    }
}
