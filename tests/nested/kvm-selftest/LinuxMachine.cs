using System.Diagnostics;
using System.Text;
using Hypervisor.Boot;
using Hypervisor.Boot.Linux;
using Hypervisor.Devices.Console;
using Hypervisor.Devices.Legacy;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;
using Hypervisor.Platform.Time;

namespace Hypervisor.Kvm.SelfTest;

/// <summary>
/// Just enough PC to boot Debian's kernel on the KVM backend before the real machine (src/Hypervisor.Machine)
/// can: hv's own boot loader and ACPI/MP tables (Hypervisor.Boot), its 16550 and RTC (Hypervisor.Devices),
/// KVM's in-kernel PIC/IOAPIC/LAPIC/PIT, and an ACPI PM1a control register that turns S5 into power-off.
/// Everything else reads as an empty bus.
/// </summary>
internal sealed class LinuxMachine : IDisposable
{
    private readonly HostClock _clock = new();
    private readonly PortIoBus _ports = new();
    private readonly MmioBus _mmio = new();
    private readonly SerialCapture _console = new();
    private readonly Serial16550 _serial;
    private readonly CmosRtc _rtc;
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
        _ports.Register(PcPlatform.AcpiPmBase, 12, new AcpiPm(this), "ACPI PM1a + PM timer");

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
        return (exits, _poweredOff || exits.Any(e => e.Reason == VcpuExitReason.PowerOff));
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

    /// <summary>
    /// PM1a event/control and the PM timer at the FADT's addresses (ACPI 6.4, 4.8.3): SCI_EN reads as set
    /// (the FADT has no SMI command port, so ACPI is always on), SLP_EN with SLP_TYP = S5 powers off, and the
    /// timer counts at 3.579545 MHz in 24 bits.
    /// </summary>
    private sealed class AcpiPm(LinuxMachine machine) : IBusDevice
    {
        private const ulong Pm1Control = 4, PmTimer = 8;
        private const ushort SciEnable = 1, SleepEnable = 1 << 13;
        private readonly long _start = Stopwatch.GetTimestamp();
        private ushort _status, _enable;

        public void Read(ulong baseAddress, ulong offset, Span<byte> data)
        {
            ulong value = offset switch
            {
                0 => _status | ((ulong)_enable << 16),
                2 => _enable,
                Pm1Control => SciEnable,
                >= PmTimer => (ulong)((Stopwatch.GetTimestamp() - _start) * 3_579_545.0 / Stopwatch.Frequency) & 0xFF_FFFF,
                _ => 0,
            };
            if (offset > PmTimer) value >>= (int)(offset - PmTimer) * 8;
            BusData.From(data, value);
        }

        public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
        {
            ulong value = BusData.ToUInt64(data);
            switch (offset)
            {
                case 0:
                    _status &= (ushort)~value;
                    if (data.Length == 4) _enable = (ushort)(value >> 16);
                    break;
                case 2:
                    _enable = (ushort)value;
                    break;
                case Pm1Control:
                    if ((value & SleepEnable) != 0 && ((value >> 10) & 7) == PcPlatform.SleepTypeS5) machine.PowerOff();
                    break;
            }
        }
    }
}
