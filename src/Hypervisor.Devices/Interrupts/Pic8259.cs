using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Interrupts;

/// <summary>
/// The PC/AT pair of Intel 8259A interrupt controllers: master at 0x20/0x21, slave at 0xA0/0xA1 with its INT
/// output on the master's IR2, plus the PIIX edge/level control registers (ELCR) at 0x4D0/0x4D1.
/// This is what a software CPU talks to: it samples <see cref="HasInterrupt"/> (the master's INT pin) at
/// instruction boundaries and runs <see cref="Acknowledge"/> (the INTA cycle) to get the vector.
/// </summary>
public sealed class Pic8259 : IBusDevice
{
    public const ushort MasterPort = 0x20;
    public const ushort SlavePort = 0xA0;
    public const ushort ElcrPort = 0x4D0;

    private const int CascadeLine = 2;

    private readonly object _lock = new();
    private readonly Pic8259Chip _master = new(isMaster: true);
    private readonly Pic8259Chip _slave = new(isMaster: false);
    private bool _intr;

    /// <summary>
    /// Raised (outside the device lock, on the thread that caused it) when the INT output goes from low to high,
    /// so a vCPU halted in HLT can be woken.
    /// </summary>
    public event Action? InterruptRaised;

    /// <summary>The master's INT output: an unmasked request outranks everything in service.</summary>
    public bool HasInterrupt
    {
        get
        {
            lock (_lock) return _intr;
        }
    }

    public void RegisterPorts(PortIoBus bus)
    {
        bus.Register(MasterPort, 2, this, "8259 PIC master");
        bus.Register(SlavePort, 2, this, "8259 PIC slave");
        bus.Register(ElcrPort, 2, this, "PIIX ELCR");
    }

    /// <summary>Drives ISA IRQ line <paramref name="irq"/> (0-15).</summary>
    public void SetIrq(int irq, bool level)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(irq);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(irq, 15);
        // The AT moved the ISA bus's IRQ2 pin to the slave's IR1 (IRQ9) when IR2 became the cascade input.
        if (irq == CascadeLine) irq = 9;
        bool raised;
        lock (_lock)
        {
            if (irq < 8) _master.SetInput(irq, level);
            else _slave.SetInput(irq - 8, level);
            raised = Update();
        }
        if (raised) InterruptRaised?.Invoke();
    }

    /// <summary>
    /// The INTA cycle: returns the vector of the highest-priority request and moves it to in-service.
    /// When the request went away since INT was sampled, the 8259A answers with IR7 of the chip that
    /// was asked (a spurious IRQ7 or IRQ15) and sets no in-service bit on that chip.
    /// </summary>
    public int Acknowledge()
    {
        int vector;
        bool raised;
        lock (_lock)
        {
            int line = _master.HighestPendingRequest();
            if (line < 0)
            {
                vector = _master.VectorBase | 7;
            }
            else if (line == CascadeLine)
            {
                _master.Acknowledge(CascadeLine);
                int slaveLine = _slave.HighestPendingRequest();
                if (slaveLine < 0)
                {
                    vector = _slave.VectorBase | 7;
                }
                else
                {
                    _slave.Acknowledge(slaveLine);
                    vector = _slave.VectorBase | slaveLine;
                }
            }
            else
            {
                _master.Acknowledge(line);
                vector = _master.VectorBase | line;
            }
            raised = Update();
        }
        if (raised) InterruptRaised?.Invoke();
        return vector;
    }

    public void Reset()
    {
        lock (_lock)
        {
            _master.Reset();
            _slave.Reset();
            _intr = false;
        }
    }

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        bool raised;
        lock (_lock)
        {
            // A wide access to these 8-bit ISA registers is split into byte cycles at consecutive ports.
            for (int i = 0; i < data.Length; i++)
                data[i] = offset + (ulong)i < 2 ? ReadByte((ushort)(baseAddress + offset + (ulong)i)) : (byte)0xFF;
            raised = Update();
        }
        if (raised) InterruptRaised?.Invoke();
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        bool raised;
        lock (_lock)
        {
            for (int i = 0; i < data.Length && offset + (ulong)i < 2; i++)
                WriteByte((ushort)(baseAddress + offset + (ulong)i), data[i]);
            raised = Update();
        }
        if (raised) InterruptRaised?.Invoke();
    }

    private byte ReadByte(ushort port)
    {
        switch (port)
        {
            case MasterPort: return _master.ReadCommand();
            case MasterPort + 1: return _master.ReadData();
            case SlavePort:
            {
                byte value = _slave.ReadCommand();
                UpdateCascade(); // a poll read acknowledges on the slave
                return value;
            }
            case SlavePort + 1: return _slave.ReadData();
            case ElcrPort: return _master.Elcr;
            case ElcrPort + 1: return _slave.Elcr;
            default: return 0xFF;
        }
    }

    private void WriteByte(ushort port, byte value)
    {
        switch (port)
        {
            case MasterPort: _master.WriteCommand(value); break;
            case MasterPort + 1: _master.WriteData(value); break;
            case SlavePort: _slave.WriteCommand(value); break;
            case SlavePort + 1: _slave.WriteData(value); break;
            case ElcrPort: _master.WriteElcr(value); break;
            case ElcrPort + 1: _slave.WriteElcr(value); break;
        }
    }

    private void UpdateCascade() => _master.SetCascadeInput(CascadeLine, _slave.HighestPendingRequest() >= 0);

    /// <summary>Propagates the slave's INT to the master and recomputes INT; true if INT just rose.</summary>
    private bool Update()
    {
        UpdateCascade();
        bool intr = _master.HighestPendingRequest() >= 0;
        bool raised = intr && !_intr;
        _intr = intr;
        return raised;
    }
}
