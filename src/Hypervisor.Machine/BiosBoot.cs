using System.Buffers.Binary;
using System.Text;
using Hypervisor.Boot;
using Hypervisor.Boot.E820;
using Hypervisor.Boot.Firmware;
using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Pci;
using Hypervisor.Kvm;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Machine;

/// <summary>
/// Booting through a BIOS image (--bios), as QEMU's pc machine boots SeaBIOS: the image in flash below 4 GiB and
/// behind the i440FX shadow segments, the fw_cfg files such a BIOS reads, and the boot vCPU at the reset vector.
/// </summary>
public static class BiosBoot
{
    /// <summary>
    /// How long a BIOS waits after "No bootable device" before it resets the machine (etc/boot-fail-wait, in ms).
    /// QEMU leaves the file out by default and SeaBIOS then waits 60 s; hv gives up sooner, so a machine with
    /// nothing to boot reboots (or exits, with --no-reboot) instead of sitting silent for a minute.
    /// </summary>
    public const uint BootFailWaitMs = 5000;

    public static (GuestMemory Memory, ShadowRam Shadow) CreateMemory(MachineConfig config)
    {
        string path = config.Bios ?? throw new ArgumentException("no --bios given", nameof(config));
        BiosImage image;
        try
        {
            image = BiosImage.Read(path);
        }
        catch (BootImageException e)
        {
            throw new MachineConfigurationException($"--bios {e.Message}", e);
        }
        try
        {
            return BiosMemory.Create(config.MemoryBytes, image);
        }
        catch (Exception e) when (e is OutOfMemoryException or ArgumentException)
        {
            throw new MachineConfigurationException($"--memory {config.MemoryBytes >> 20}M: {e.Message}", e);
        }
    }

    /// <summary>Applies the host bridge's PAM registers to the shadow segments now and whenever the guest changes them.</summary>
    public static void ConnectShadowing(I440fxHostBridge bridge, ShadowRam shadow)
    {
        void Apply(I440fxHostBridge b)
        {
            foreach (var segment in b.PamSegments)
                shadow.Set(segment.Start, segment.Access.HasFlag(PamAccess.Read), segment.Access.HasFlag(PamAccess.Write));
        }
        bridge.PamChanged += Apply;
        Apply(bridge);
    }

    /// <summary>
    /// The power-on state (Intel SDM Vol. 3, 10.1.1 Table 10-1): real mode, CS F000 with base FFFF0000, RIP FFF0,
    /// EDX the processor signature CPUID leaf 1 reports in EAX.
    /// </summary>
    public static CpuState ResetState(uint signature) => CpuState.CreateReset(signature);

    /// <summary>The fw_cfg files SeaBIOS reads under QEMU (src/fw/paravirt.c, src/boot.c, src/sercon.c).</summary>
    public static void AddFirmwareConfigFiles(FwCfg fwCfg, MachineConfig config, GuestMemory memory,
        IReadOnlyList<int> diskSlots, IReadOnlyList<int> netSlots)
    {
        fwCfg.AddFile("etc/e820", E820File(memory));
        fwCfg.AddFile("etc/boot-fail-wait", LittleEndian(BootFailWaitMs, 4));
        // QEMU adds this when there is no VGA (-nographic): SeaBIOS then answers INT 10h itself on COM1, so its
        // banner, menus and every boot loader's output reach the serial console.
        if (config.Serial is not SerialConfig.None)
            fwCfg.AddFile("etc/sercon-port", LittleEndian(Serial16550.Com1Port, 2));
        string bootOrder = BootOrder(config.Boot, diskSlots, netSlots);
        if (bootOrder.Length > 0) fwCfg.AddFile("bootorder", Encoding.ASCII.GetBytes(bootOrder + "\0"));
        var acpi = AcpiTableLoader.Build(config.CpuCount);
        fwCfg.AddFile(AcpiTableLoader.RsdpFile, acpi.Rsdp);
        fwCfg.AddFile(AcpiTableLoader.TablesFile, acpi.Tables);
        fwCfg.AddFile(AcpiTableLoader.LoaderFile, acpi.Loader);
    }

    /// <summary>
    /// QEMU's etc/e820 (struct e820_entry: u64 address, u64 length, u32 type): the RAM as the machine lays it out
    /// - a BIOS reserves its own areas below 1 MiB - and the pages KVM keeps for VMX real mode, which hv reserves
    /// under both backends so the guest sees one memory map whichever runs it.
    /// </summary>
    public static byte[] E820File(GuestMemory memory)
    {
        var entries = new List<E820Entry>
        {
            new(0, PcMemoryLayout.LowRamSize(memory.RamSize), E820Type.Ram),
            new(KvmVm.IdentityMapAddress, 0x4000, E820Type.Reserved),
        };
        ulong high = PcMemoryLayout.HighRamSize(memory.RamSize);
        if (high != 0) entries.Add(new(PcMemoryLayout.FourGiB, high, E820Type.Ram));
        var data = new byte[entries.Count * 20];
        for (int i = 0; i < entries.Count; i++)
        {
            var e = data.AsSpan(i * 20, 20);
            BinaryPrimitives.WriteUInt64LittleEndian(e, entries[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], entries[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], (uint)entries[i].Type);
        }
        return data;
    }

    /// <summary>
    /// The "bootorder" file: OpenFirmware device paths, one a line, most preferred first, as QEMU writes them for
    /// bootindex= (a virtio-blk disk is /pci@i0cf8/scsi@SLOT/disk@0,0, a virtio-net NIC
    /// /pci@i0cf8/ethernet@SLOT/ethernet-phy@0). Devices not listed still boot after the listed ones.
    /// </summary>
    public static string BootOrder(BootSource boot, IReadOnlyList<int> diskSlots, IReadOnlyList<int> netSlots)
    {
        var disks = diskSlots.Select(s => $"/pci@i0cf8/scsi@{s:x}/disk@0,0");
        var nets = netSlots.Select(s => $"/pci@i0cf8/ethernet@{s:x}/ethernet-phy@0");
        var order = boot == BootSource.Net ? nets.Concat(disks) : disks.Concat(nets);
        return string.Join("\n", order);
    }

    private static byte[] LittleEndian(ulong value, int size)
    {
        var data = new byte[size];
        for (int i = 0; i < size; i++) data[i] = (byte)(value >> (8 * i));
        return data;
    }
}
