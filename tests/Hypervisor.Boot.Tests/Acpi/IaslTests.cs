using System.Text.RegularExpressions;
using Hypervisor.Boot.Acpi;
using Hypervisor.Boot.Tests.Support;

namespace Hypervisor.Boot.Tests.Acpi;

/// <summary>
/// ACPICA's iasl (Debian acpica-tools) is the same table parser Linux's ACPI core is built from: it must
/// disassemble every table without errors, and the disassembled DSDT must compile back.
/// </summary>
public class IaslTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public void Iasl_disassembles_every_table_without_errors(int cpus)
    {
        using var dir = new TempDirectory();
        foreach (var table in AcpiTables.Build(cpus).Tables.Where(t => t.Signature != "RSD PTR "))
        {
            string name = table.Signature.ToLowerInvariant();
            File.WriteAllBytes(dir.File(name + ".dat"), table.Bytes);
            var result = ExternalTool.Run("iasl", $"-d {name}.dat", dir.Path, "acpica-tools");
            Assert.True(result.ExitCode == 0, $"iasl -d {name}.dat: {result}");
            Assert.True(File.Exists(dir.File(name + ".dsl")), $"iasl wrote no {name}.dsl: {result}");
            string dsl = File.ReadAllText(dir.File(name + ".dsl"));
            AssertNoComplaints(name, result.Output + dsl);
        }
    }

    [Fact]
    public void Disassembled_dsdt_has_s5_prt_and_the_pci_host_bridge_and_recompiles()
    {
        using var dir = new TempDirectory();
        var dsdt = AcpiTables.Build(1).Tables.Single(t => t.Signature == "DSDT");
        File.WriteAllBytes(dir.File("dsdt.dat"), dsdt.Bytes);
        var disassembly = ExternalTool.Run("iasl", "-d dsdt.dat", dir.Path, "acpica-tools");
        Assert.True(disassembly.ExitCode == 0, disassembly.ToString());
        string dsl = File.ReadAllText(dir.File("dsdt.dsl"));

        Assert.Matches(@"Name \(\\_S5, Package \(0x04\)[^{]*\{\s*0x05,\s*0x05,\s*Zero,\s*Zero\s*\}", dsl);
        Assert.Contains("Device (PCI0)", dsl);
        Assert.Contains("EisaId (\"PNP0A03\")", dsl);
        Assert.Contains("Name (_PRT, Package (0x7C)", dsl);
        // Slot 1 INTA -> PIRQ B -> GSI 10; slot 2 INTA -> PIRQ C -> GSI 11; slot 3 INTB -> PIRQ A -> GSI 10.
        Assert.Matches(@"Package \(0x04\)\s*\{\s*0x0001FFFF,\s*Zero,\s*Zero,\s*0x0A\s*\}", dsl);
        Assert.Matches(@"Package \(0x04\)\s*\{\s*0x0002FFFF,\s*Zero,\s*Zero,\s*0x0B\s*\}", dsl);
        Assert.Matches(@"Package \(0x04\)\s*\{\s*0x0003FFFF,\s*One,\s*Zero,\s*0x0A\s*\}", dsl);
        Assert.Matches(@"WordBusNumber \(ResourceProducer, MinFixed, MaxFixed, PosDecode,\s*0x0000,\s*// Granularity\s*0x0000,\s*// Range Minimum\s*0x00FF", dsl);
        Assert.Contains("0xFEBFFFFF", dsl);
        Assert.Contains("0x0CF7", dsl);
        Assert.Contains("EisaId (\"PNP0501\")", dsl);

        // Compiling the disassembly back runs iasl's semantic checks (names, _HID, resource descriptors); with
        // its optimizations off, the AML it produces must be hv's, byte for byte after the header.
        var compile = ExternalTool.Run("iasl", "-oa -p recompiled dsdt.dsl", dir.Path, "acpica-tools");
        Assert.True(compile.ExitCode == 0, $"iasl could not compile the disassembled DSDT: {compile}");
        Assert.Matches(@"\b0 Errors, 0 Warnings", compile.Output);
        byte[] recompiled = File.ReadAllBytes(dir.File("recompiled.aml"));
        Assert.Equal(Convert.ToHexString(dsdt.Bytes.AsSpan(36)), Convert.ToHexString(recompiled.AsSpan(36)));
    }

    /// <summary>
    /// iasl cannot disassemble a bare RSDP (it has no standard header), but its data table compiler builds one
    /// from field values and computes both checksums: hv's RSDP must come out byte for byte the same.
    /// </summary>
    [Fact]
    public void Iasl_builds_the_same_rsdp_from_its_fields()
    {
        using var dir = new TempDirectory();
        var rsdp = AcpiTables.Build(1).Tables[0].Bytes;
        string source = $$"""
            [0008]                          Signature : "RSD PTR "
            [0001]                           Checksum : 00
            [0006]                             Oem ID : "{{rsdp.Ascii(9, 6)}}"
            [0001]                           Revision : {{rsdp[15]:X2}}
            [0004]                       RSDT Address : {{rsdp.U32(16):X8}}
            [0004]                             Length : {{rsdp.U32(20):X8}}
            [0008]                       XSDT Address : {{rsdp.U64(24):X16}}
            [0001]                  Extended Checksum : 00
            [0003]                           Reserved : 000000

            """;
        File.WriteAllText(dir.File("rsdp.asl"), source);
        var compile = ExternalTool.Run("iasl", "rsdp.asl", dir.Path, "acpica-tools");
        Assert.True(compile.ExitCode == 0, compile.ToString());
        AssertNoComplaints("RSDP", compile.Output.Replace("0 Errors, 0 Warnings", ""));
        Assert.Equal(Convert.ToHexString(File.ReadAllBytes(dir.File("rsdp.aml"))), Convert.ToHexString(rsdp));
    }

    [Fact]
    public void A_table_with_a_wrong_checksum_is_reported()
    {
        using var dir = new TempDirectory();
        var fadt = AcpiTables.Build(1).Tables.Single(t => t.Signature == "FACP").Bytes.ToArray();
        fadt[60] ^= 1;
        File.WriteAllBytes(dir.File("facp.dat"), fadt);
        var result = ExternalTool.Run("iasl", "-d facp.dat", dir.Path, "acpica-tools");
        string text = result.Output + File.ReadAllText(dir.File("facp.dsl"));
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertNoComplaints("FACP", text));
    }

    private static void AssertNoComplaints(string table, string text)
    {
        foreach (var line in text.Split('\n'))
            Assert.False(Regex.IsMatch(line, @"\b(Error|Warning|Invalid|Incorrect|Unknown|\*\*\*\*)", RegexOptions.IgnoreCase)
                         && !line.Contains("Compiler/Disassembler"),
                $"iasl complained about {table}: {line}");
    }
}
