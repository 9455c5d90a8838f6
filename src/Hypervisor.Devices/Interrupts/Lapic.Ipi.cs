namespace Hypervisor.Devices.Interrupts;

// Interprocessor interrupts: the ICR, destination matching for the APIC bus, and the NMI/INIT/SIPI events the
// CPU takes (Intel SDM Vol. 3A 11.6, 8.4.4).
public sealed partial class Lapic
{
    // ICR low writable bits: vector, delivery mode, destination mode, level, trigger mode, shorthand.
    private const uint IcrLowWritable = 0x000C_CFFF;

    /// <summary>True while the CPU sits in wait-for-SIPI (an AP after power-up or after INIT).</summary>
    public bool IsWaitingForSipi
    {
        get
        {
            lock (_lock) return _waitingForSipi;
        }
    }

    /// <summary>
    /// Whether this APIC is addressed by <paramref name="destination"/> (SDM 11.6.2): physical compares the APIC
    /// ID (0xFF broadcasts); logical compares the MDA with LDR in the flat or cluster model DFR selects.
    /// </summary>
    public bool MatchesDestination(byte destination, bool logical)
    {
        lock (_lock)
        {
            if ((_apicBase & ApicBaseEnable) == 0) return false;
            if (!logical) return destination == 0xFF || destination == _id;
            if (destination == 0xFF) return true;
            uint logicalId = _ldr >> 24;
            switch (_dfr >> 28)
            {
                case 0xF: // flat: one bit per APIC, up to eight
                    return (logicalId & destination) != 0;
                case 0x0: // cluster: cluster number in the high nibble, member bits in the low one
                    return (logicalId >> 4) == (uint)(destination >> 4) && (logicalId & destination & 0xF) != 0;
                default:
                    return false;
            }
        }
    }

    /// <summary>
    /// SDM 11.6.2.4: with focus checking enabled (SVR bit 9 clear) an APIC already servicing or holding
    /// <paramref name="vector"/> wins lowest-priority arbitration.
    /// </summary>
    public bool IsFocusFor(int vector)
    {
        lock (_lock)
            return (_svr & SvrFocusCheckingDisabled) == 0 && (_svr & SvrSoftwareEnable) != 0
                && (TestBit(_isr, vector) || TestBit(_irr, vector));
    }

    /// <summary>Takes a pending NMI (the CPU then runs vector 2 unless NMIs are blocked).</summary>
    public bool TakeNmi()
    {
        lock (_lock)
        {
            if (!_nmiPending) return false;
            _nmiPending = false;
            UpdateAttention();
            return true;
        }
    }

    /// <summary>
    /// Takes a pending INIT: the APIC itself goes to its INIT state here (SDM 11.4.7.3: as after power-up but
    /// keeping the APIC ID and IA32_APIC_BASE) and an AP enters wait-for-SIPI. The caller resets the CPU
    /// registers (SDM Table 10-1); the BSP then restarts at the reset vector, as KVM does.
    /// </summary>
    public bool TakeInit()
    {
        lock (_lock)
        {
            if (!_initPending) return false;
            _initPending = false;
            byte id = _id;
            bool sipiPending = _sipiPending;
            byte sipiVector = _sipiVector;
            ResetRegistersLocked();
            _id = id;
            // A SIPI that arrived after the INIT (the usual INIT, SIPI, SIPI sequence) belongs to the new state.
            _sipiPending = sipiPending;
            _sipiVector = sipiVector;
            _waitingForSipi = !IsBspLocked;
            UpdateAttention();
            return true;
        }
    }

    /// <summary>
    /// Takes a start-up IPI: its vector (the CPU starts in real mode at vector * 0x1000) if the CPU was waiting
    /// for one, else null. Leaving wait-for-SIPI makes later SIPIs be ignored (SDM 8.4.4.1).
    /// </summary>
    public int? TakeSipi()
    {
        lock (_lock)
        {
            if (!_sipiPending) return null;
            _sipiPending = false;
            UpdateAttention();
            if (!_waitingForSipi) return null;
            _waitingForSipi = false;
            return _sipiVector;
        }
    }

    /// <summary>An ICR low write sends the IPI (SDM 11.6.1); returns the message for the bus, or null.</summary>
    private ApicMessage? WriteIcrLowLocked(uint value)
    {
        _icrLow = value & IcrLowWritable;
        var mode = (ApicDeliveryMode)((_icrLow >> 8) & 7);
        byte vector = (byte)_icrLow;
        var shorthand = (ApicShorthand)((_icrLow >> 18) & 3);
        // INIT level de-assert (mode INIT, level 0, trigger level) only resynchronised P6 arbitration IDs; later
        // processors do not support it (SDM 11.6.1), so it reaches nobody.
        if (mode == ApicDeliveryMode.Init && (_icrLow & 0xC000) == 0x8000) return null;
        if (mode is ApicDeliveryMode.Fixed or ApicDeliveryMode.LowestPriority && vector < 16)
        {
            LogErrorLocked(EsrSendIllegalVector);
            return null;
        }
        // SDM 11.6.1: the trigger mode is ignored for every other delivery mode, so IPIs arrive edge-triggered
        // (no TMR bit, no EOI broadcast) and asserted.
        return new ApicMessage(
            Vector: vector,
            DeliveryMode: mode,
            LogicalDestination: (_icrLow & 0x800) != 0,
            Destination: (byte)(_icrHigh >> 24),
            Shorthand: shorthand);
    }
}
