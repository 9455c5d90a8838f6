using System.Text;
using Hypervisor.Boot;
using Hypervisor.Boot.Linux;
using Hypervisor.Devices.Acpi;
using Hypervisor.Devices.Console;
using Hypervisor.Devices.Legacy;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;
using Hypervisor.Platform.Memory;
using Hypervisor.Platform.Time;

namespace Hypervisor.Kvm.SelfTest;

/// <summary>
/// Just enough PC to boot Debian's kernel on the KVM backend before the real machine (src/Hypervisor.Machine)
/// can: hv's own boot loader and ACPI/MP tables (Hypervisor.Boot), its 16550, RTC and ACPI PM block
/// (Hypervisor.Devices) and KVM's in-kernel PIC/IOAPIC/LAPIC/PIT. Everything else reads as an empty bus.
/// </summary>
internal sealed class LinuxMachine : IDisposable
{
    private readonly HostClock _clock = new();
    private readonly PortIoBus _ports = new();
    private readonly MmioBus _mmio = new();
    private readonly SerialCapture _console = new();
    private readonly Serial16550 _serial;
    private readonly CmosRtc _rtc;
    private readonly AcpiPm _pm;
    private readonly List<KvmVcpu> _vcpus = [];
    private volatile bool _poweredOff;

    public LinuxMachine(KvmHypervisor kvm, int cpuCount, ulong ramSize, string kernel, string initrd, string cmdline)
    {
        Memory = GuestMemory.CreatePc(ramSize);
        Vm = (KvmVm)kvm.CreateVm(new VmSetup(Memory, new BusIoHandler(_ports, _mmio), cpuCount, _clock));
        _serial = new Serial16550(Serial16550.Com1Port, Serial16550.Com1Irq, Vm.Interrupts, _console, _clock);
        _serial.RegisterPorts(_ports);
        _rtc = new CmosRtc(Vm.Interrupts, _clock);
        _rtc.RegisterPorts(_ports);
        _pm = new AcpiPm(AcpiPm.HvBasePort, Vm.Interrupts, new StopOnRequest(this), _clock);
        _pm.RegisterPorts(_ports);

        var tables = FirmwareTables.Write(Memory, cpuCount);
        var boot = BzImageLoader.Load(Memory, BzImage.Load(kernel), new LinuxBootOptions
        {
            MemoryMap = tables.MemoryMap,
            CommandLine = cmdline,
            Initrd = BootFile.Read(initrd),
            AcpiRsdpAddress = tables.RsdpAddress,
        });
        for (int i = 0; i < cpuCount; i++) _vcpus.Add((KvmVcpu)Vm.CreateVcpu(i));
        // Only the BSP gets the loader's state; APs keep KVM's wait-for-SIPI state.
        _vcpus[0].SetState(boot.Cpu);
    }

    public GuestMemory Memory { get; }
    public KvmVm Vm { get; }
    public string Serial => _console.Text;

    /// <summary>What the guest asked the machine for through the ACPI PM device (S5 power-off, reset).</summary>
    public VmStopRequest? StopRequest { get; private set; }

    /// <summary>Runs until power-off or a fatal exit; returns each vCPU's last exit and whether S5 was reached.</summary>
    public (VcpuExit[] Exits, bool PoweredOff) Run(TimeSpan timeout)
    {
        var exits = new VcpuExit[_vcpus.Count];
        var done = new ManualResetEventSlim();
        var threads = _vcpus.Select((v, i) => new Thread(() =>
        {
            try
            {
                while (true)
                {
                    exits[i] = v.Run();
                    if (exits[i].Reason != VcpuExitReason.Kicked || _poweredOff || done.IsSet) break;
                }
            }
            catch (Exception e)
            {
                exits[i] = new VcpuExit(VcpuExitReason.InternalError, e.ToString());
            }
            done.Set();
            foreach (var other in _vcpus) other.Kick();
        }) { Name = $"linux-vcpu{i}" }).ToList();
        threads.ForEach(t => t.Start());
        if (!done.Wait(timeout))
        {
            done.Set();
            foreach (var v in _vcpus) v.Kick();
        }
        threads.ForEach(t => t.Join());
        return (exits, StopRequest?.Reason == VmStopReason.PowerOff || exits.Any(e => e.Reason == VcpuExitReason.PowerOff));
    }

    private void PowerOff()
    {
        _poweredOff = true;
        foreach (var v in _vcpus) v.Kick();
    }

    public void Dispose()
    {
        Vm.Dispose();
        _serial.Dispose();
        _rtc.Dispose();
        _pm.Dispose();
        Memory.Dispose();
        _clock.Dispose();
    }

    /// <summary>Keeps what the guest prints and echoes it, prefixed, to the L1 console.</summary>
    private sealed class SerialCapture : ICharacterBackend
    {
        private readonly StringBuilder _text = new();
        private readonly StringBuilder _line = new();

        public string Text
        {
            get { lock (_text) return _text.ToString(); }
        }

        public void Write(ReadOnlySpan<byte> data)
        {
            lock (_text)
                foreach (byte b in data)
                {
                    _text.Append((char)b);
                    if (b == '\n')
                    {
                        Console.WriteLine("    l2| " + _line.ToString().TrimEnd('\r'));
                        _line.Clear();
                    }
                    else _line.Append((char)b);
                }
        }

        public void SetReceiver(CharacterReceiver? receiver) { }
    }

    /// <summary>What the ACPI PM device calls for S5 (and the reset register): ends the run.</summary>
    private sealed class StopOnRequest(LinuxMachine machine) : IVmControl
    {
        public void RequestStop(VmStopRequest request)
        {
            machine.StopRequest = request;
            machine.PowerOff();
        }
    }
}
