namespace Hypervisor.Platform;

/// <summary>
/// Facts about hv's PC that the firmware tables (Boot) describe and the devices (Devices) implement: they must
/// agree, so they are written down once, here, below both.
/// </summary>
public static class PcPlatform
{
    /// <summary>The ACPI PM device (PM1a event at +0, PM1a control at +4, PM timer at +8).</summary>
    public const ushort AcpiPmBase = 0x600;
    public const ushort Pm1aEventBlock = AcpiPmBase;
    public const byte Pm1EventLength = 4;
    public const ushort Pm1aControlBlock = AcpiPmBase + 4;
    public const byte Pm1ControlLength = 2;
    public const ushort PmTimerBlock = AcpiPmBase + 8;
    public const byte PmTimerLength = 4;

    /// <summary>SLP_TYP the PM device treats as S5 (soft off).</summary>
    public const byte SleepTypeS5 = 5;

    /// <summary>The ACPI SCI, an ISA IRQ routed level-triggered, active high.</summary>
    public const byte SciIrq = 9;

    /// <summary>The PIIX reset control register; writing 0x06 resets the machine.</summary>
    public const ushort ResetPort = 0xCF9;
    public const byte ResetValue = 0x06;

    public const byte ComIrq = 4, KeyboardIrq = 1, MouseIrq = 12, RtcIrq = 8, PitIrq = 0;

    /// <summary>The PIT's IRQ 0 arrives at IOAPIC input 2, as on every PC with an IOAPIC.</summary>
    public const byte PitGsi = 2;

    /// <summary>GSIs of PIRQ A, B, C and D (the PIIX3's routing registers default to these in hv).</summary>
    public static ReadOnlySpan<byte> PirqGsi => [10, 10, 11, 11];

    public const int FirstPciSlot = 1, LastPciSlot = 31;

    /// <summary>The swizzle of hv's PIIX3: slot S pin P (0 = INTA) drives PIRQ (S + P) mod 4.</summary>
    public static int Pirq(int slot, int pin) => (slot + pin) % 4;

    public static byte PciGsi(int slot, int pin) => PirqGsi[Pirq(slot, pin)];

    /// <summary>The distinct GSIs PCI INTx lines use; they are level-triggered.</summary>
    public static IReadOnlyList<byte> PciGsis => [.. PirqGsi.ToArray().Distinct()];
}
