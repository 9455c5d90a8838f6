using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Interrupts;

/// <summary>
/// The PC interrupt system in userspace for the BT backend (crosvm's userspace irqchip is the model): the 8259A
/// pair, one 82093AA IOAPIC and one local APIC per vCPU, behind the same <see cref="IInterruptController"/> the
/// devices use under KVM.
/// <para>
/// Wiring, as a PC with the usual MADT: ISA IRQ n (GSI 0-15) drives PIC line n and IOAPIC pin n, except that
/// IRQ0 (the PIT) goes to pin 2 (the MADT's interrupt source override bus 0 IRQ 0 -> GSI 2) and pin 0 is left
/// unconnected, as QEMU wires it; IRQ2 is the PIC cascade and reaches no IOAPIC pin. GSIs 16-23 (PCI INTx
/// routed by the firmware) go to the IOAPIC only. The PIC's INTR reaches a CPU through its LINT0 (virtual
/// wire, ExtINT) or directly when that CPU's APIC is globally disabled; the IOAPIC sends no ExtINT messages.
/// </para>
/// <para>
/// Local APIC MMIO: every vCPU sees its own APIC at the same address, and the MMIO bus cannot know which vCPU
/// is accessing it, so the APIC page is not put on the bus. The BT engine asks
/// <c>PortFor(vcpu).Lapic.TryRead/TryWrite(address, ...)</c> before the bus on its MMIO slow path; the APIC
/// answers only inside its (relocatable) page while enabled.
/// </para>
/// </summary>
public sealed class UserspaceIrqChip : IUserspaceIrqChip, IDisposable
{
    private readonly Lapic[] _lapics;
    private readonly CpuInterruptPort[] _ports;
    private readonly ApicBus _bus;
    private int _arbitrationCursor;

    /// <param name="clock">Time for the APIC timers (and the TSC they compare with).</param>
    /// <param name="vcpuCount">vCPUs; vCPU i gets APIC ID i, vCPU 0 is the bootstrap processor.</param>
    /// <param name="tscFrequencyHz">The guest TSC rate (CPUID 0x15/0x16 should report it).</param>
    /// <param name="pic">The PIC pair to wire in; one is created when null.</param>
    /// <param name="ioApicId">The IOAPIC's ID, as the MADT describes it.</param>
    /// <param name="physicalAddressBits">MAXPHYADDR, for IA32_APIC_BASE reserved-bit checks.</param>
    public UserspaceIrqChip(VirtualClock clock, int vcpuCount, long tscFrequencyHz, Pic8259? pic = null,
        byte ioApicId = 0, int physicalAddressBits = 40)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(vcpuCount);
        // xAPIC physical IDs are 8 bits and 0xFF is the broadcast.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vcpuCount, 255);
        _bus = new ApicBus(this);
        Pic = pic ?? new Pic8259();
        Tsc = new GuestTsc(clock, tscFrequencyHz);
        IoApic = new IoApic(_bus, ioApicId);
        _lapics = new Lapic[vcpuCount];
        _ports = new CpuInterruptPort[vcpuCount];
        for (int i = 0; i < vcpuCount; i++)
        {
            _lapics[i] = new Lapic((byte)i, isBootstrapProcessor: i == 0, clock, Tsc, _bus, physicalAddressBits);
            _ports[i] = new CpuInterruptPort(i, _lapics[i], Pic);
        }
        Pic.InterruptRaised += OnPicInterrupt;
    }

    public Pic8259 Pic { get; }

    public IoApic IoApic { get; }

    /// <summary>The guest TSC: the software CPU reads RDTSC and writes IA32_TSC here, so TSC-deadline agrees.</summary>
    public GuestTsc Tsc { get; }

    public int VcpuCount => _lapics.Length;

    public Lapic LapicFor(int vcpu) => _lapics[vcpu];

    public ICpuInterruptPort PortFor(int vcpu) => _ports[vcpu];

    /// <summary>Puts the PIC (0x20, 0xA0, ELCR 0x4D0) and the IOAPIC window (0xFEC00000) on the buses.</summary>
    public void RegisterDevices(PortIoBus ports, MmioBus mmio)
    {
        Pic.RegisterPorts(ports);
        mmio.Register(IoApic.DefaultBaseAddress, IoApic.MmioSize, IoApic, "82093AA IOAPIC");
    }

    public void SetIrq(int gsi, bool level)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(gsi);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(gsi, IoApic.PinCount);
        if (gsi < 16)
        {
            Pic.SetIrq(gsi, level);
            if (gsi == 2) return;
            IoApic.SetIrq(gsi == 0 ? 2 : gsi, level);
        }
        else
        {
            IoApic.SetIrq(gsi, level);
        }
    }

    /// <summary>
    /// An MSI/MSI-X write (SDM 11.11). A write outside 0xFEExxxxx is not an interrupt message and is dropped,
    /// as the chipset would not claim it as one.
    /// </summary>
    public void SendMsi(ulong address, uint data)
    {
        if (ApicMessage.TryDecodeMsi(address, data, out var message)) _bus.Deliver(message, sender: null);
    }

    /// <summary>Machine reset: PIC and IOAPIC to their reset state, every APIC to power-up (vCPU 0 the BSP).</summary>
    public void Reset()
    {
        Pic.Reset();
        IoApic.Reset();
        for (int i = 0; i < _lapics.Length; i++) _lapics[i].PowerOnReset(isBootstrapProcessor: i == 0);
    }

    public void Dispose()
    {
        Pic.InterruptRaised -= OnPicInterrupt;
        foreach (var port in _ports) port.Dispose();
        foreach (var lapic in _lapics) lapic.Dispose();
    }

    private void OnPicInterrupt()
    {
        foreach (var port in _ports)
            if (port.Lapic.AcceptsPicInterrupt) port.Signal();
    }

    private int Deliver(in ApicMessage message, Lapic? sender)
    {
        if (message.DeliveryMode == ApicDeliveryMode.LowestPriority)
        {
            var chosen = ArbitrateLowestPriority(message, sender);
            return chosen is not null && chosen.AcceptMessage(message) ? 1 : 0;
        }
        int accepted = 0;
        foreach (var lapic in _lapics)
            if (IsAddressed(lapic, message, sender) && lapic.AcceptMessage(message))
                accepted++;
        return accepted;
    }

    private static bool IsAddressed(Lapic lapic, in ApicMessage message, Lapic? sender) => message.Shorthand switch
    {
        ApicShorthand.Self => lapic == sender,
        ApicShorthand.AllIncludingSelf => true,
        ApicShorthand.AllExcludingSelf => lapic != sender,
        _ => lapic.MatchesDestination(message.Destination, message.LogicalDestination),
    };

    /// <summary>
    /// Lowest-priority delivery (SDM 11.6.2.4): the focus processor if there is one, else the addressed APIC with
    /// the lowest arbitration priority; ties rotate so equal CPUs share the load.
    /// </summary>
    private Lapic? ArbitrateLowestPriority(in ApicMessage message, Lapic? sender)
    {
        Lapic? best = null;
        int bestPriority = int.MaxValue;
        int start = (int)((uint)Interlocked.Increment(ref _arbitrationCursor) % (uint)_lapics.Length);
        for (int n = 0; n < _lapics.Length; n++)
        {
            var lapic = _lapics[(start + n) % _lapics.Length];
            if (!IsAddressed(lapic, message, sender) || !lapic.IsHardwareEnabled || !lapic.IsSoftwareEnabled) continue;
            if (lapic.IsFocusFor(message.Vector)) return lapic;
            int priority = lapic.ArbitrationPriority;
            if (priority < bestPriority)
            {
                best = lapic;
                bestPriority = priority;
            }
        }
        return best;
    }

    /// <summary>The system bus: messages to the LAPICs, EOI broadcasts to the IOAPIC.</summary>
    private sealed class ApicBus(UserspaceIrqChip chip) : IApicBus
    {
        public int Deliver(in ApicMessage message, Lapic? sender) => chip.Deliver(message, sender);

        public void BroadcastEoi(byte vector) => chip.IoApic.EndOfInterrupt(vector);
    }
}
