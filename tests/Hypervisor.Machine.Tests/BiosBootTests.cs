using System.Buffers.Binary;
using System.Text;
using Hypervisor.Devices.Legacy;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Machine.Tests;

public class BiosBootTests
{
    [Fact]
    public void E820FileListsTheRamBelowAndAbove4GiBAndTheKvmPages()
    {
        using var memory = GuestMemory.CreatePc(4UL << 30);
        byte[] file = BiosBoot.E820File(memory);
        Assert.Equal(3 * 20, file.Length);
        (ulong, ulong, uint) Entry(int i) => (
            BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(i * 20)),
            BinaryPrimitives.ReadUInt64LittleEndian(file.AsSpan(i * 20 + 8)),
            BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(i * 20 + 16)));
        Assert.Equal((0UL, 0xC000_0000UL, 1u), Entry(0));
        Assert.Equal((0xFEFF_C000UL, 0x4000UL, 2u), Entry(1));
        Assert.Equal((0x1_0000_0000UL, 0x4000_0000UL, 1u), Entry(2));
    }

    [Fact]
    public void BootOrderNamesDisksAsQemuDoesAndPutsTheChosenKindFirst()
    {
        Assert.Equal("/pci@i0cf8/scsi@2/disk@0,0\n/pci@i0cf8/scsi@a/disk@0,0\n/pci@i0cf8/ethernet@3/ethernet-phy@0",
            BiosBoot.BootOrder(BootSource.Disk, [2, 10], [3]));
        Assert.Equal("/pci@i0cf8/ethernet@3/ethernet-phy@0\n/pci@i0cf8/scsi@2/disk@0,0",
            BiosBoot.BootOrder(BootSource.Net, [2], [3]));
        Assert.Equal("", BiosBoot.BootOrder(BootSource.Disk, [], []));
    }

    /// <summary>Reads a fw_cfg file through the port interface, as a BIOS without DMA does.</summary>
    private static byte[]? ReadFile(PortIoBus bus, FwCfg fwCfg, string name)
    {
        if (!fwCfg.TryGetFileSelector(name, out ushort key)) return null;
        bus.Write(FwCfg.SelectorPort, [(byte)FwCfg.Keys.FileDir, 0]);
        var dir = new byte[4 + 64 * 64];
        foreach (ref byte b in dir.AsSpan()) bus.Read(FwCfg.DataPort, new Span<byte>(ref b));
        int count = (int)BinaryPrimitives.ReadUInt32BigEndian(dir);
        for (int i = 0; i < count; i++)
        {
            var entry = dir.AsSpan(4 + 64 * i, 64);
            if (BinaryPrimitives.ReadUInt16BigEndian(entry[4..]) != key) continue;
            var data = new byte[BinaryPrimitives.ReadUInt32BigEndian(entry)];
            bus.Write(FwCfg.SelectorPort, [(byte)key, (byte)(key >> 8)]);
            foreach (ref byte b in data.AsSpan()) bus.Read(FwCfg.DataPort, new Span<byte>(ref b));
            return data;
        }
        return null;
    }

    [Fact]
    public void FirmwareConfigHasWhatSeaBiosReads()
    {
        using var memory = GuestMemory.CreatePc(128UL << 20);
        var bus = new PortIoBus();
        var fwCfg = new FwCfg(memory.RamSize, 2);
        fwCfg.RegisterPorts(bus);
        var config = new MachineConfig { Bios = "bios.bin", Boot = BootSource.Disk, CpuCount = 2 };
        BiosBoot.AddFirmwareConfigFiles(fwCfg, config, memory, [2], []);

        Assert.Equal(BiosBoot.E820File(memory), ReadFile(bus, fwCfg, "etc/e820"));
        Assert.Equal(BitConverter.GetBytes(BiosBoot.BootFailWaitMs), ReadFile(bus, fwCfg, "etc/boot-fail-wait"));
        Assert.Equal(new byte[] { 0xF8, 0x03 }, ReadFile(bus, fwCfg, "etc/sercon-port"));
        Assert.Equal("/pci@i0cf8/scsi@2/disk@0,0\0", Encoding.ASCII.GetString(ReadFile(bus, fwCfg, "bootorder")!));
        Assert.NotNull(ReadFile(bus, fwCfg, "etc/table-loader"));
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(ReadFile(bus, fwCfg, "etc/acpi/rsdp")!, 0, 8));
        Assert.NotNull(ReadFile(bus, fwCfg, "etc/acpi/tables"));
    }

    [Fact]
    public void WithoutASerialPortSeaBiosKeepsItsOwnConsole()
    {
        using var memory = GuestMemory.CreatePc(128UL << 20);
        var fwCfg = new FwCfg(memory.RamSize, 1);
        var config = new MachineConfig { Bios = "bios.bin", Boot = BootSource.Disk, Serial = new SerialConfig.None() };
        BiosBoot.AddFirmwareConfigFiles(fwCfg, config, memory, [], []);
        Assert.False(fwCfg.TryGetFileSelector("etc/sercon-port", out _));
        Assert.False(fwCfg.TryGetFileSelector("bootorder", out _));
    }

    [Fact]
    public void ResetStateIsTheSdmPowerOnStateWithTheSignatureInEdx()
    {
        var s = BiosBoot.ResetState(0x6FB);
        Assert.Equal(0x6FBUL, s.Rdx);
        Assert.Equal(0xFFF0UL, s.Rip);
        Assert.Equal(0xF000, s.Cs.Selector);
        Assert.Equal(0xFFFF_0000UL, s.Cs.Base);
        Assert.Equal(0x6000_0010UL, s.Cr0);
        Assert.Equal(2UL, s.Rflags);
        Assert.Equal(0UL, s.Rax);
        Assert.Equal(0UL, s.Rsp);
    }
}
