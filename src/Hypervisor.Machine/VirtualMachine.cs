using Hypervisor.BinaryTranslation.Backend;
using Hypervisor.Boot;
using Hypervisor.Devices.Console;
using Hypervisor.Devices.Interrupts;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;
using Hypervisor.Platform.Memory;
using Hypervisor.Platform.Time;

namespace Hypervisor.Machine;

/// <summary>
/// The composition root: builds memory, buses, devices and vCPUs from a <see cref="MachineConfig"/> on the chosen
/// backend, runs one thread per vCPU, and turns the first stop request into the process exit status.
/// </summary>
public sealed class VirtualMachine : IDisposable
{
    private readonly MachineConfig _config;
    private readonly TextWriter _diagnostics;
    private readonly VmLifecycle _lifecycle = new();
    private readonly HostClock _clock = new();
    private readonly GuestMemory _memory;
    private readonly PortIoBus _ports = new();
    private readonly MmioBus _mmio = new();
    private readonly IVm _vm;
    private readonly PcBoard _board;
    private readonly IVcpu[] _vcpus;
    private readonly UserspaceIrqChip? _irqChip;
    private readonly Hypervisor.Boot.Firmware.ShadowRam? _shadow;

    /// <summary>The guest TSC rate under a userspace irqchip (BT); KVM keeps the host's.</summary>
    public const long TscFrequencyHz = 2_000_000_000;

    private VirtualMachine(MachineConfig config, IHypervisor hypervisor, ICharacterBackend serial, TextWriter diagnostics)
    {
        _config = config;
        _diagnostics = diagnostics;
        if (config.Bios is not null) (_memory, _shadow) = BiosBoot.CreateMemory(config);
        else _memory = AllocateMemory(config.MemoryBytes);
        try
        {
            var io = new BusIoHandler(_ports, _mmio);
            if (!hypervisor.HasInKernelIrqChip)
            {
                // PIC, IOAPIC and one LAPIC per vCPU in userspace; the PIT joins them on the board. All of them,
                // and the guest TSC, count the one host clock, so Linux's calibrations against each other agree.
                _irqChip = new UserspaceIrqChip(_clock, config.CpuCount, TscFrequencyHz);
                _irqChip.RegisterDevices(_ports, _mmio);
            }
            _vm = hypervisor.CreateVm(new VmSetup(_memory, io, config.CpuCount, _clock, _irqChip));
            _board = new PcBoard(config, _memory, _ports, _mmio, _vm.Interrupts, _clock, _lifecycle, serial,
                hypervisor.HasInKernelIrqChip);
            if (_vm is BtVm bt)
            {
                // Only the BT engine can mask address bit 20; KVM has no A20 masking (and modern guests enable A20).
                bt.A20Enabled = _board.A20.Enabled;
                _board.A20.Changed += enabled => bt.A20Enabled = enabled;
            }
            if (_vm is Hypervisor.Kvm.IKvmEventFds kvm) _board.UseKernelNotifications(kvm, diagnostics);
            if (_shadow is not null) BiosBoot.ConnectShadowing(_board.Pci.HostBridge, _shadow);
            var boot = LoadBootState(config);
            _vcpus = new IVcpu[config.CpuCount];
            for (int i = 0; i < _vcpus.Length; i++)
            {
                _vcpus[i] = _vm.CreateVcpu(i);
                // Application processors wait for INIT/SIPI from the BSP, as after a real power-on.
                if (i == 0) _vcpus[i].SetState(boot);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        _lifecycle.StopRequested += _ => KickAll();
    }

    /// <summary>
    /// Builds and runs the machine until the guest powers off, exits through isa-debug-exit or fails; a guest
    /// reset rebuilds it unless <see cref="MachineConfig.NoReboot"/>. Returns the process exit status.
    /// </summary>
    public static int Run(MachineConfig config, ICharacterBackend serial, TextWriter diagnostics)
    {
        Validate(config);
        using var hypervisor = AcceleratorSelection.Create(config.Accelerator, diagnostics);
        while (true)
        {
            VmStopRequest stop;
            using (var machine = new VirtualMachine(config, hypervisor, serial, diagnostics))
                stop = machine.RunUntilStopped();
            if (stop.Message is not null) diagnostics.WriteLine($"hv: {stop.Message}");
            if (stop.Reason == VmStopReason.Reset && !config.NoReboot)
            {
                diagnostics.WriteLine("hv: guest reset; restarting the machine");
                continue;
            }
            return VmLifecycle.ExitStatusFor(stop);
        }
    }

    private VmStopRequest RunUntilStopped()
    {
        var threads = new Thread[_vcpus.Length];
        for (int i = 0; i < threads.Length; i++)
        {
            var vcpu = _vcpus[i];
            threads[i] = new Thread(() => RunVcpu(vcpu)) { Name = $"hv-vcpu{i}", IsBackground = true };
            threads[i].Start();
        }
        foreach (var t in threads) t.Join();
        return _lifecycle.Request ?? new VmStopRequest(VmStopReason.Fatal, 1, "every vCPU stopped without a reason");
    }

    private void RunVcpu(IVcpu vcpu)
    {
        try
        {
            while (!_lifecycle.IsStopping)
            {
                var exit = vcpu.Run();
                switch (exit.Reason)
                {
                    case VcpuExitReason.Kicked:
                        break;
                    case VcpuExitReason.PowerOff:
                        _lifecycle.RequestStop(new VmStopRequest(VmStopReason.PowerOff, 0));
                        break;
                    case VcpuExitReason.Reset:
                        _lifecycle.RequestStop(new VmStopRequest(VmStopReason.Reset, 0));
                        break;
                    case VcpuExitReason.Shutdown:
                        _lifecycle.RequestStop(new VmStopRequest(VmStopReason.Fatal, 1,
                            $"vCPU {vcpu.Index}: the guest triple-faulted (shutdown){Detail(exit)}"));
                        break;
                    case VcpuExitReason.Halted:
                        _lifecycle.RequestStop(new VmStopRequest(VmStopReason.Fatal, 1,
                            $"vCPU {vcpu.Index}: the guest halted with interrupts disabled; nothing can wake it{Detail(exit)}"));
                        break;
                    default:
                        _lifecycle.RequestStop(new VmStopRequest(VmStopReason.Fatal, 1,
                            $"vCPU {vcpu.Index}: {exit.Reason}{Detail(exit)}"));
                        break;
                }
            }
        }
        catch (Exception e)
        {
            // A VMM bug must end this VM with a message, never take the process down with an unhandled exception.
            _lifecycle.RequestStop(new VmStopRequest(VmStopReason.Fatal, 1,
                $"vCPU {vcpu.Index}: internal error: {e.GetType().Name}: {e.Message}"));
        }
    }

    private static string Detail(VcpuExit exit) => exit.Message is null ? "" : Environment.NewLine + exit.Message;

    private void KickAll()
    {
        foreach (var v in _vcpus ?? []) v?.Kick();
    }

    private CpuState LoadBootState(MachineConfig config)
    {
        // A BIOS starts where a real CPU does; it finds the boot device itself.
        if (config.Bios is not null) return BiosBoot.ResetState(ProcessorSignature());
        try
        {
            return config.Boot switch
            {
                BootSource.Kernel => KernelBoot.Load(_memory, config),
                _ => throw new MachineConfigurationException(
                    $"--boot {config.Boot.ToString().ToLowerInvariant()} needs a BIOS: hv's own is not there yet; give one with --bios (e.g. /usr/share/seabios/bios.bin)"),
            };
        }
        catch (BootImageException e)
        {
            throw new MachineConfigurationException(e.Message, e);
        }
    }

    /// <summary>
    /// CPUID leaf 1 EAX, which a CPU also leaves in EDX at reset: the BT engine's model, or the host's under KVM
    /// (KVM passes the host's family, model and stepping through).
    /// </summary>
    private uint ProcessorSignature() => _vm is BtVm
        ? new Hypervisor.BinaryTranslation.Instructions.CpuidModel().Signature
        : (uint)System.Runtime.Intrinsics.X86.X86Base.CpuId(1, 0).Eax;

    private static GuestMemory AllocateMemory(ulong bytes)
    {
        try
        {
            return GuestMemory.CreatePc(bytes);
        }
        catch (Exception e) when (e is OutOfMemoryException or ArgumentException)
        {
            throw new MachineConfigurationException($"--memory {bytes >> 20}M: {e.Message}", e);
        }
    }

    private static void Validate(MachineConfig config)
    {
        if (config.CpuCount is < 1 or > 255)
            throw new MachineConfigurationException($"--cpus {config.CpuCount}: hv supports 1 to 255 vCPUs");
        // The initrd (or a multiboot module list, "a args,b") is checked where it is read: BootFile names the file.
        foreach (var (option, path) in new[] { ("--kernel", config.Kernel), ("--bios", config.Bios) })
            if (path is not null && !File.Exists(path))
                throw new MachineConfigurationException($"{option} {path}: no such file");
        if (config.Bios is not null && config.Boot == BootSource.Kernel)
            throw new MachineConfigurationException(
                $"--bios {config.Bios}: a BIOS boots a disk or the network; --kernel boots directly without one, so they exclude each other");
        foreach (var disk in config.Disks)
            if (!File.Exists(disk.Path))
                throw new MachineConfigurationException($"--disk {disk.Path}: no such file");
    }

    public void Dispose()
    {
        foreach (var v in _vcpus ?? []) v?.Dispose();
        _vm?.Dispose();
        _board?.Dispose();
        _irqChip?.Dispose();
        _clock.Dispose();
        _memory?.Dispose();
    }
}
