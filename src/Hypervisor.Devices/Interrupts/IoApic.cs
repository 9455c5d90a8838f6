using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Interrupts;

/// <summary>
/// The Intel 82093AA I/O APIC: 24 interrupt pins, each turned into an APIC message by its redirection entry
/// (datasheet 3.2.4). The guest reaches the registers indirectly: IOREGSEL at offset 0x00 picks one, IOWIN at
/// 0x10 reads or writes it. Version 0x11 has no EOI register; level interrupts are retired by the EOI
/// broadcast of the local APICs (<see cref="EndOfInterrupt"/>).
/// </summary>
public sealed class IoApic : IBusDevice
{
    public const ulong DefaultBaseAddress = 0xFEC0_0000;

    /// <summary>The decoded window: IOREGSEL and IOWIN.</summary>
    public const ulong MmioSize = 0x20;

    public const int PinCount = 24;

    /// <summary>Version 0x11 (82093AA), maximum redirection entry 23 in bits 23:16.</summary>
    public const uint VersionValue = (PinCount - 1) << 16 | 0x11;

    public const int IoRegSel = 0x00;
    public const int IoWin = 0x10;

    public const byte IdRegister = 0x00;
    public const byte VersionRegister = 0x01;
    public const byte ArbitrationRegister = 0x02;
    public const byte RedirectionTableBase = 0x10;

    // Redirection entry bits (datasheet 3.2.4).
    private const ulong DeliveryStatus = 1UL << 12;
    private const ulong ActiveLow = 1UL << 13;
    private const ulong RemoteIrr = 1UL << 14;
    private const ulong LevelTrigger = 1UL << 15;
    private const ulong Masked = 1UL << 16;

    // Writable: vector, delivery mode, destination mode, polarity, trigger mode, mask, destination (63:56).
    // Delivery status and remote IRR are read-only; bits 55:17 are reserved.
    private const ulong EntryWritable = 0xFF00_0000_0001_AFFFUL;

    private readonly object _lock = new();
    private readonly IApicBus _bus;
    private readonly byte _resetId;
    private readonly ulong[] _redirection = new ulong[PinCount];
    private uint _pinLevels; // asserted pins
    private byte _id;
    private byte _ioRegSel;

    /// <param name="id">The IOAPIC ID after reset: the MADT's and MP table's ID for it.</param>
    public IoApic(IApicBus bus, byte id = 0)
    {
        _bus = bus;
        _resetId = id;
        Reset();
    }

    /// <summary>The redirection entry of <paramref name="pin"/> as the guest reads it (for tests and debugging).</summary>
    public ulong RedirectionEntry(int pin)
    {
        lock (_lock) return _redirection[pin];
    }

    /// <summary>Reset: every entry masked (datasheet 3.2.4), ID back to its reset value, all pins low.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            for (int i = 0; i < PinCount; i++) _redirection[i] = Masked;
            _pinLevels = 0;
            _id = _resetId;
            _ioRegSel = 0;
        }
    }

    /// <summary>
    /// Drives pin <paramref name="pin"/>: <paramref name="asserted"/> is the logical state, as KVM_IRQ_LINE
    /// takes it. The polarity bit is kept for the guest to read but not applied: it describes the board wire
    /// (active-low for PCI), and the devices behind <c>IInterruptController</c> already report assertion, so
    /// the same devices behave the same on both backends.
    /// </summary>
    public void SetIrq(int pin, bool asserted)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pin);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(pin, PinCount);
        lock (_lock)
        {
            uint bit = 1u << pin;
            bool wasAsserted = (_pinLevels & bit) != 0;
            if (asserted) _pinLevels |= bit;
            else _pinLevels &= ~bit;
            ulong entry = _redirection[pin];
            if ((entry & LevelTrigger) == 0)
            {
                // Edge: the rising edge sends one message; an edge on a masked pin is lost (datasheet 3.2.4).
                if (asserted && !wasAsserted && (entry & Masked) == 0) SendLocked(pin);
            }
            else
            {
                ServiceLevelLocked(pin);
            }
        }
    }

    /// <summary>
    /// A local APIC broadcast EOI for <paramref name="vector"/> (SDM 11.8.5): every level entry with that vector
    /// clears remote IRR, and one whose pin is still asserted is sent again.
    /// </summary>
    public void EndOfInterrupt(byte vector)
    {
        lock (_lock)
        {
            for (int pin = 0; pin < PinCount; pin++)
            {
                ulong entry = _redirection[pin];
                if ((byte)entry != vector || (entry & RemoteIrr) == 0) continue;
                _redirection[pin] = entry & ~RemoteIrr;
                ServiceLevelLocked(pin);
            }
        }
    }

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        uint value;
        lock (_lock)
        {
            value = (offset & ~3UL) switch
            {
                IoRegSel => _ioRegSel,
                IoWin => ReadRegisterLocked(_ioRegSel),
                _ => 0,
            };
        }
        int first = (int)(offset & 3);
        for (int i = 0; i < data.Length; i++)
            data[i] = first + i < 4 ? (byte)(value >> (8 * (first + i))) : (byte)0;
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return;
        lock (_lock)
        {
            switch (offset)
            {
                case IoRegSel:
                    _ioRegSel = data[0]; // bits 7:0 select the register; the rest is reserved
                    break;
                case >= IoWin and < IoWin + 4:
                {
                    // A narrow write changes only its bytes of the selected register.
                    uint value = ReadRegisterLocked(_ioRegSel);
                    int first = (int)(offset - IoWin);
                    for (int i = 0; first + i < 4 && i < data.Length; i++)
                        value = (value & ~(0xFFu << (8 * (first + i)))) | ((uint)data[i] << (8 * (first + i)));
                    WriteRegisterLocked(_ioRegSel, value);
                    break;
                }
            }
        }
    }

    private uint ReadRegisterLocked(byte index)
    {
        switch (index)
        {
            case IdRegister: return (uint)_id << 24;
            case VersionRegister: return VersionValue;
            // The arbitration ID is loaded from the ID (datasheet 3.2.3); arbitration itself belongs to the
            // three-wire APIC bus, which this system bus does not have.
            case ArbitrationRegister: return (uint)_id << 24;
            case >= RedirectionTableBase and < RedirectionTableBase + 2 * PinCount:
            {
                ulong entry = _redirection[(index - RedirectionTableBase) >> 1];
                return (index & 1) == 0 ? (uint)entry : (uint)(entry >> 32);
            }
            default:
                return 0;
        }
    }

    private void WriteRegisterLocked(byte index, uint value)
    {
        switch (index)
        {
            case IdRegister:
                _id = (byte)((value >> 24) & 0xF); // bits 27:24
                break;
            case >= RedirectionTableBase and < RedirectionTableBase + 2 * PinCount:
            {
                int pin = (index - RedirectionTableBase) >> 1;
                ulong entry = _redirection[pin];
                ulong written = (index & 1) == 0
                    ? (entry & 0xFFFF_FFFF_0000_0000UL) | value
                    : (entry & 0xFFFF_FFFFUL) | ((ulong)value << 32);
                entry = (entry & (DeliveryStatus | RemoteIrr)) | (written & EntryWritable);
                // Remote IRR only has meaning for level entries. Linux clears a stuck one by switching the entry
                // to edge and back (arch/x86/kernel/apic/io_apic.c), which KVM and QEMU honour too.
                if ((entry & LevelTrigger) == 0) entry &= ~RemoteIrr;
                _redirection[pin] = entry;
                // Unmasking a level entry whose pin is asserted delivers it now: a level is a state, not an event.
                if ((entry & LevelTrigger) != 0) ServiceLevelLocked(pin);
                break;
            }
            // Version and arbitration are read-only.
        }
    }

    /// <summary>A level entry sends while its pin is asserted, it is unmasked and no earlier send is unretired.</summary>
    private void ServiceLevelLocked(int pin)
    {
        ulong entry = _redirection[pin];
        if ((entry & LevelTrigger) == 0 || (entry & (Masked | RemoteIrr)) != 0) return;
        if ((_pinLevels & (1u << pin)) == 0) return;
        SendLocked(pin);
    }

    /// <summary>
    /// Turns the entry into an APIC message. Delivery is synchronous, so delivery status never reads "send
    /// pending"; a level message accepted by some LAPIC sets remote IRR until that LAPIC's EOI.
    /// </summary>
    private void SendLocked(int pin)
    {
        ulong entry = _redirection[pin];
        bool level = (entry & LevelTrigger) != 0;
        var message = new ApicMessage(
            Vector: (byte)entry,
            DeliveryMode: (ApicDeliveryMode)((entry >> 8) & 7),
            LogicalDestination: (entry & (1UL << 11)) != 0,
            Destination: (byte)(entry >> 56),
            LevelTriggered: level);
        int accepted = _bus.Deliver(message, sender: null);
        if (level && accepted > 0) _redirection[pin] = entry | RemoteIrr;
    }

    /// <summary>The polarity bit as programmed (active low when set); see <see cref="SetIrq"/>.</summary>
    public bool IsActiveLow(int pin)
    {
        lock (_lock) return (_redirection[pin] & ActiveLow) != 0;
    }
}
