namespace Hypervisor.Devices.Interrupts;

/// <summary>
/// One Intel 8259A: IRR/ISR/IMR, the ICW1-4 initialisation sequence and the OCW1-3 operation commands.
/// <see cref="Pic8259"/> wires two of them as a PC does and serialises access to them.
/// </summary>
internal sealed class Pic8259Chip(bool isMaster)
{
    // Initialisation state: which ICW the next data-port write is.
    private const int Ready = 0, ExpectIcw2 = 2, ExpectIcw3 = 3, ExpectIcw4 = 4;

    private readonly bool _isMaster = isMaster;

    private byte _inputs; // current IR pin levels
    private int _initState;
    private bool _icw4Needed, _singleMode, _levelTriggeredAll;
    private bool _readIsr, _pollPending;
    private int _lowestPriority = 7;

    public byte Irr { get; private set; }
    public byte Isr { get; private set; }
    public byte Imr { get; private set; }
    public byte Elcr { get; private set; }
    public byte VectorBase { get; private set; }
    public byte Icw3 { get; private set; }
    public bool AutoEoi { get; private set; }
    public bool RotateOnAutoEoi { get; private set; }
    public bool SpecialMaskMode { get; private set; }
    public bool SpecialFullyNested { get; private set; }

    /// <summary>ELCR bits that may be set: IRQ0, 1, 2 (master) and IRQ8, 13 (slave) are edge-only on PIIX.</summary>
    public byte ElcrWritable => _isMaster ? (byte)0xF8 : (byte)0xDE;

    private byte LevelMask => (byte)(Elcr | (_levelTriggeredAll ? 0xFF : 0));

    public void Reset()
    {
        _inputs = 0;
        Irr = Isr = Imr = Elcr = 0;
        VectorBase = 0;
        Icw3 = 0;
        _initState = Ready;
        _icw4Needed = _singleMode = _levelTriggeredAll = false;
        _readIsr = _pollPending = false;
        _lowestPriority = 7;
        AutoEoi = RotateOnAutoEoi = SpecialMaskMode = SpecialFullyNested = false;
    }

    /// <summary>
    /// The slave's INT output on the master's IR2. The request is latched while INT is high and only INTA clears
    /// it, so a slave request that vanishes after the master saw it still makes the master run the cascade cycle,
    /// in which the slave answers IR7: the spurious IRQ15 that PC operating systems EOI on the master. Latching
    /// on the level rather than on an edge keeps a slave that still has requests after an INTA (auto-EOI) from
    /// being forgotten.
    /// </summary>
    public void SetCascadeInput(int line, bool level)
    {
        byte bit = (byte)(1 << line);
        if (level)
        {
            _inputs |= bit;
            Irr |= bit;
        }
        else
        {
            _inputs &= (byte)~bit;
        }
    }

    public void SetInput(int line, bool level)
    {
        byte bit = (byte)(1 << line);
        bool wasHigh = (_inputs & bit) != 0;
        if (level) _inputs |= bit;
        else _inputs &= (byte)~bit;
        if ((LevelMask & bit) != 0)
        {
            // Level sensed: IRR follows the pin, so a request that goes away before INTA leaves a spurious IR7.
            if (level) Irr |= bit;
            else Irr &= (byte)~bit;
        }
        else if (level && !wasHigh)
        {
            // Edge sensed: the rising edge latches the request. Devices pulse (high then low) per the
            // interrupt-controller contract, so the latch is kept when the pin falls again.
            Irr |= bit;
        }
    }

    public void WriteElcr(byte value)
    {
        Elcr = (byte)(value & ElcrWritable);
        byte level = LevelMask;
        Irr = (byte)((Irr & ~level) | (_inputs & level));
    }

    /// <summary>The line this chip would present on INTA now, or -1 (datasheet "priority resolver").</summary>
    public int HighestPendingRequest()
    {
        int priority = PriorityOf((byte)(Irr & ~Imr));
        if (priority == 8) return -1;
        byte inService = Isr;
        // Special mask mode: a level masked in IMR does not block lower priorities even while in service.
        if (SpecialMaskMode) inService &= (byte)~Imr;
        // Special fully nested mode: the master lets a slave interrupt through while another from the same
        // slave is in service, so the slave's own priorities decide.
        if (SpecialFullyNested && _isMaster) inService &= unchecked((byte)~0x04);
        return priority < PriorityOf(inService) ? (priority + _lowestPriority + 1) & 7 : -1;
    }

    /// <summary>The INTA sequence for <paramref name="line"/>: set ISR (unless auto-EOI), clear an edge request.</summary>
    public void Acknowledge(int line)
    {
        byte bit = (byte)(1 << line);
        if (AutoEoi)
        {
            if (RotateOnAutoEoi) _lowestPriority = line;
        }
        else
        {
            Isr |= bit;
        }
        if ((LevelMask & bit) == 0) Irr &= (byte)~bit;
    }

    public void WriteCommand(byte value)
    {
        if ((value & 0x10) != 0) WriteIcw1(value);
        else if ((value & 0x08) == 0) WriteOcw2(value);
        else WriteOcw3(value);
    }

    public void WriteData(byte value)
    {
        switch (_initState)
        {
            case ExpectIcw2:
                VectorBase = (byte)(value & 0xF8);
                _initState = !_singleMode ? ExpectIcw3 : _icw4Needed ? ExpectIcw4 : Ready;
                break;
            case ExpectIcw3:
                Icw3 = value;
                _initState = _icw4Needed ? ExpectIcw4 : Ready;
                break;
            case ExpectIcw4:
                // Bit 0 (8086 mode) is assumed: x86 CPUs only take the 8086 INTA format.
                AutoEoi = (value & 0x02) != 0;
                SpecialFullyNested = (value & 0x10) != 0;
                _initState = Ready;
                break;
            default:
                Imr = value; // OCW1
                break;
        }
    }

    /// <summary>Read at A0 = 0: the poll word after a poll command, else IRR or ISR as OCW3 selected.</summary>
    public byte ReadCommand()
    {
        if (_pollPending)
        {
            _pollPending = false;
            int line = HighestPendingRequest();
            if (line < 0) return 0;
            Acknowledge(line);
            return (byte)(0x80 | line);
        }
        return _readIsr ? Isr : Irr;
    }

    public byte ReadData() => Imr;

    private void WriteIcw1(byte value)
    {
        // Datasheet "Initialization command words": the edge-sense latches are reset, IMR cleared, IR7 becomes
        // the lowest priority, special mask mode is cleared and status read selects IRR; without IC4 the ICW4
        // functions are cleared.
        _icw4Needed = (value & 0x01) != 0;
        _singleMode = (value & 0x02) != 0;
        _levelTriggeredAll = (value & 0x08) != 0;
        Imr = 0;
        Isr = 0;
        Irr = (byte)(_inputs & LevelMask);
        _lowestPriority = 7;
        SpecialMaskMode = false;
        _readIsr = false;
        _pollPending = false;
        AutoEoi = false;
        RotateOnAutoEoi = false;
        SpecialFullyNested = false;
        _initState = ExpectIcw2;
    }

    private void WriteOcw2(byte value)
    {
        int level = value & 0x07;
        switch (value >> 5)
        {
            case 0b001: // non-specific EOI
            case 0b101: // rotate on non-specific EOI
            {
                int priority = PriorityOf(Isr);
                if (priority == 8) break;
                int line = (priority + _lowestPriority + 1) & 7;
                Isr &= (byte)~(1 << line);
                if ((value & 0x80) != 0) _lowestPriority = line;
                break;
            }
            case 0b011: // specific EOI
                Isr &= (byte)~(1 << level);
                break;
            case 0b111: // rotate on specific EOI
                Isr &= (byte)~(1 << level);
                _lowestPriority = level;
                break;
            case 0b110: // set priority: the given level becomes the lowest
                _lowestPriority = level;
                break;
            case 0b100:
                RotateOnAutoEoi = true;
                break;
            case 0b000:
                RotateOnAutoEoi = false;
                break;
            // 0b010: no operation
        }
    }

    private void WriteOcw3(byte value)
    {
        if ((value & 0x40) != 0) SpecialMaskMode = (value & 0x20) != 0; // ESMM gates SMM
        if ((value & 0x04) != 0) _pollPending = true;
        if ((value & 0x02) != 0) _readIsr = (value & 0x01) != 0;
    }

    /// <summary>Priority (0 = highest) of the most urgent bit set in <paramref name="mask"/>; 8 when none.</summary>
    private int PriorityOf(byte mask)
    {
        if (mask == 0) return 8;
        int priority = 0;
        while ((mask & (1 << ((priority + _lowestPriority + 1) & 7))) == 0) priority++;
        return priority;
    }
}
