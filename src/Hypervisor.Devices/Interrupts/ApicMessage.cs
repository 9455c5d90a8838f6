namespace Hypervisor.Devices.Interrupts;

/// <summary>Delivery modes of the APIC interrupt message (Intel SDM Vol. 3A 11.6.1, ICR bits 10:8).</summary>
public enum ApicDeliveryMode
{
    Fixed = 0,
    LowestPriority = 1,
    Smi = 2,
    Nmi = 4,
    Init = 5,
    StartUp = 6,
    ExtInt = 7,
}

/// <summary>ICR bits 19:18 (SDM 11.6.1): who gets an IPI without looking at the destination field.</summary>
public enum ApicShorthand
{
    None = 0,
    Self = 1,
    AllIncludingSelf = 2,
    AllExcludingSelf = 3,
}

/// <summary>
/// One interrupt message on the (virtual) APIC bus, the common form of an IOAPIC redirection, an IPI from an
/// ICR write and an MSI: the LAPICs only ever see these.
/// </summary>
/// <param name="Destination">xAPIC destination: an APIC ID (physical) or an MDA (logical); 0xFF broadcasts.</param>
/// <param name="LevelTriggered">Trigger mode; a level-triggered fixed interrupt sets TMR so its EOI is broadcast.</param>
/// <param name="Assert">The ICR level bit; only INIT uses it (de-assert is the INIT level de-assert message).</param>
public readonly record struct ApicMessage(
    byte Vector,
    ApicDeliveryMode DeliveryMode,
    bool LogicalDestination,
    byte Destination,
    bool LevelTriggered = false,
    bool Assert = true,
    ApicShorthand Shorthand = ApicShorthand.None)
{
    /// <summary>The MSI address window (SDM 11.11.1): 0xFEEx_xxxx.</summary>
    public const ulong MsiAddressBase = 0xFEE0_0000;

    /// <summary>
    /// Decodes a message-signalled interrupt (SDM 11.11.1 address, 11.11.2 data). False when the write does not
    /// target the interrupt window, so it is no interrupt at all.
    /// </summary>
    public static bool TryDecodeMsi(ulong address, uint data, out ApicMessage message)
    {
        message = default;
        if ((address & 0xFFFF_FFFF_FFF0_0000UL) != MsiAddressBase) return false;
        byte destination = (byte)(address >> 12);
        bool redirectionHint = (address & 0x8) != 0;
        bool logical = (address & 0x4) != 0;
        var mode = (ApicDeliveryMode)((data >> 8) & 7);
        // RH = 1 lets the chipset pick the lowest-priority processor among the destinations; KVM applies the
        // same reading to fixed messages, so a guest sees the same arbitration on both backends.
        if (redirectionHint && mode == ApicDeliveryMode.Fixed) mode = ApicDeliveryMode.LowestPriority;
        message = new ApicMessage(
            Vector: (byte)data,
            DeliveryMode: mode,
            LogicalDestination: logical,
            Destination: destination,
            // The level bit (14) is ignored as KVM does: devices only send asserting messages.
            LevelTriggered: (data & 0x8000) != 0);
        return true;
    }
}

/// <summary>
/// The system bus between interrupt sources (IOAPIC, LAPIC ICR, MSI) and the local APICs, plus the EOI
/// broadcast that runs the other way (SDM 11.8.5). <see cref="UserspaceIrqChip"/> is the real one.
/// </summary>
public interface IApicBus
{
    /// <summary>
    /// Sends <paramref name="message"/> to the LAPICs it addresses; <paramref name="sender"/> resolves the
    /// self/all-excluding-self shorthands (null for the IOAPIC and MSIs). Returns how many LAPICs accepted it.
    /// </summary>
    int Deliver(in ApicMessage message, Lapic? sender);

    /// <summary>A LAPIC retired a level-triggered <paramref name="vector"/> (its TMR bit was set).</summary>
    void BroadcastEoi(byte vector);
}
