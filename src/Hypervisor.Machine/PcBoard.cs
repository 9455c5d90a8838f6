using Hypervisor.Devices.Acpi;
using Hypervisor.Devices.Console;
using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Pci;
using Hypervisor.Devices.Virtio;
using Hypervisor.Devices.Virtio.Block;
using Hypervisor.Devices.Virtio.Console;
using Hypervisor.Devices.Virtio.Net;
using Hypervisor.Devices.Virtio.Rng;
using Hypervisor.Kvm;
using Hypervisor.Network;
using Hypervisor.Network.Tap;
using Hypervisor.Network.VmLink;
using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;
using Hypervisor.Platform.Memory;
using Hypervisor.Platform.Time;
using Hypervisor.Storage;

namespace Hypervisor.Machine;

/// <summary>
/// The PC's devices on their buses: the legacy ISA set, the i440FX/PIIX3 PCI bus and the virtio devices the
/// configuration asks for. PIC, PIT and IOAPIC are left to the backend when it emulates them in the kernel.
/// </summary>
public sealed class PcBoard : IDisposable
{
    private readonly List<IDisposable> _owned = [];
    private readonly List<VirtioPciTransport> _virtio = [];
    private readonly List<int> _diskSlots = [], _netSlots = [];
    private readonly MsiIrqFdRouter _msi;
    private VirtioKernelNotifications? _kernelNotifications;

    public PcBoard(MachineConfig config, GuestMemory memory, PortIoBus ports, MmioBus mmio,
        IInterruptController interrupts, VirtualClock clock, IVmControl control, ICharacterBackend serial,
        bool inKernelIrqChip)
    {
        if (!inKernelIrqChip)
        {
            var pit = new Pit8254(interrupts, clock);
            pit.RegisterPorts(ports);
            new SystemControlPortB(pit, clock).RegisterPorts(ports);
        }

        var com1 = Own(new Serial16550(Serial16550.Com1Port, Serial16550.Com1Irq, interrupts, serial, clock));
        com1.RegisterPorts(ports);

        Rtc = new CmosRtc(interrupts, clock);
        Rtc.SetMemorySizes(PcMemoryLayout.LowRamSize(memory.RamSize), PcMemoryLayout.HighRamSize(memory.RamSize));
        Rtc.SetCpuCount(config.CpuCount);
        Rtc.RegisterPorts(ports);

        A20 = new A20Gate();
        new I8042(interrupts, control, A20).RegisterPorts(ports);
        new SystemControlPortA(control, A20).RegisterPorts(ports);
        new PostCodePort().RegisterPorts(ports);
        new DebugExit(control).RegisterPorts(ports);
        FwCfg = new FwCfg(memory.RamSize, config.CpuCount, memory);
        FwCfg.RegisterPorts(ports);
        new AcpiPm(AcpiPm.HvBasePort, interrupts, control, clock).RegisterPorts(ports);

        // PCI devices get a router whose MSI path can switch to irqfds under KVM (UseKernelNotifications).
        _msi = Own(new MsiIrqFdRouter(interrupts));
        Pci = new PciRoot(ports, mmio, _msi, control);
        AddDisks(config, memory);
        AddNetworks(config, memory);
        AddConsolePorts(config, memory);
        AddVirtio(new VirtioRng(memory));
        if (config.Bios is null)
        {
            // Without a BIOS nobody else assigns BARs and PIRQ routes; with one, the BIOS does it.
            Pci.ConfigureForDirectBoot();
        }
        else
        {
            BiosBoot.AddFirmwareConfigFiles(FwCfg, config, memory, _diskSlots, _netSlots);
        }
        AddDebugConsole(config, ports);
    }

    /// <summary>
    /// isa-debugcon at 0x402 when --debugcon asks for it (QEMU's -device isa-debugcon): firmware writes its log
    /// there whether or not anything listens, and without the device the writes go nowhere, as on QEMU.
    /// </summary>
    private void AddDebugConsole(MachineConfig config, PortIoBus ports)
    {
        if (config.DebugConsolePath is not { } log) return;
        Stream stream;
        try
        {
            stream = new FileStream(log, FileMode.Create, FileAccess.Write, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MachineConfigurationException($"--debugcon {log}: {e.Message}", e);
        }
        Own(new DebugCon(stream)).RegisterPorts(ports);
    }

    public CmosRtc Rtc { get; }
    public A20Gate A20 { get; }
    public FwCfg FwCfg { get; }
    public PciRoot Pci { get; }

    private void AddDisks(MachineConfig config, GuestMemory memory)
    {
        for (int i = 0; i < config.Disks.Count; i++)
        {
            var disk = config.Disks[i];
            if (disk.Format != DiskFormat.Raw)
                throw new MachineConfigurationException($"--disk {disk.Path}: format {disk.Format.ToString().ToLowerInvariant()} is not supported yet; use a raw image");
            IBlockBackend backend;
            try
            {
                backend = Own(RawFileBackend.Open(disk.Path, disk.ReadOnly));
            }
            catch (BlockBackendException e)
            {
                throw new MachineConfigurationException($"--disk {disk.Path}: {e.Message}", e);
            }
            _diskSlots.Add(AddVirtio(Own(new VirtioBlk(memory, backend, serial: $"hv{i}"))));
        }
    }

    private void AddNetworks(MachineConfig config, GuestMemory memory)
    {
        foreach (var net in config.Networks)
        {
            string spec = net.Backend;
            if (net.Model != "virtio")
                throw new MachineConfigurationException($"--net {spec}: model {net.Model} is not supported yet; use model=virtio");
            var mac = MacAddress.Generate();
            if (net.Options.TryGetValue("mac", out string? text) && !MacAddress.TryParse(text, out mac))
                throw new MachineConfigurationException($"--net {spec}: mac '{text}' is not six hex bytes like 52:54:00:12:34:56");
            INetBackend backend;
            try
            {
                backend = net.Backend switch
                {
                    "tap" => Own(TapBackend.Open(net.Options["ifname"])),
                    "socket" => Own(VmLinkBackend.Open(net.Options["path"])),
                    _ => throw new MachineConfigurationException(
                        $"--net {spec}: the {spec} backend is not available yet; use tap or socket"),
                };
            }
            catch (NetBackendException e)
            {
                throw new MachineConfigurationException($"--net {spec}: {e.Message}", e);
            }
            _netSlots.Add(AddVirtio(Own(new VirtioNet(memory, backend, mac))));
        }
    }

    private void AddConsolePorts(MachineConfig config, GuestMemory memory)
    {
        if (config.ConsolePorts.Count == 0) return;
        var ports = new List<VirtioConsolePortSpec>();
        foreach (var port in config.ConsolePorts)
        {
            try
            {
                ports.Add(new VirtioConsolePortSpec(port.Name, Own(FilePortBackend.Open(port.OutputPath, port.InputPath))));
            }
            catch (IOException e)
            {
                throw new MachineConfigurationException($"--console-port {port.Name}: {e.Message}", e);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new MachineConfigurationException($"--console-port {port.Name}: {e.Message}", e);
            }
        }
        AddVirtio(Own(new VirtioConsole(memory, new FilePortBackend(null, null), ports)));
    }

    /// <summary>Adds the device on a virtio-pci transport and returns its slot.</summary>
    private int AddVirtio(VirtioDevice device)
    {
        var transport = new VirtioPciTransport(device);
        int slot = Pci.AddDevice(transport);
        _virtio.Add(transport);
        return slot;
    }

    /// <summary>
    /// Under KVM: virtio queue notifications through ioeventfds, so a guest kick does not stop its vCPU
    /// (<see cref="VirtioKernelNotifications"/>), and PCI MSI/MSI-X messages through irqfds
    /// (<see cref="MsiIrqFdRouter"/>). Call once, after the board is built.
    /// </summary>
    public void UseKernelNotifications(IKvmEventFds kvm, TextWriter? diagnostics = null)
    {
        if (_kernelNotifications is not null) throw new InvalidOperationException("kernel notifications are already on");
        _kernelNotifications = new VirtioKernelNotifications(kvm, _virtio, diagnostics);
        _msi.UseIrqFds(kvm);
    }

    private T Own<T>(T disposable) where T : IDisposable
    {
        _owned.Add(disposable);
        return disposable;
    }

    public void Dispose()
    {
        // The ioeventfd thread calls into devices: it stops first.
        _kernelNotifications?.Dispose();
        _kernelNotifications = null;
        // Devices before their backends: a blk worker must stop before its file closes.
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}
