using Hypervisor.Platform.Interrupts;

namespace Hypervisor.Devices.Pci;

/// <summary>
/// The PIIX3's PCI interrupt steering (82371SB datasheet, PIRQRC[A:D]): the four PIRQ# lines that the slots'
/// INTx# pins are wired to, each routed to an ISA IRQ or to nothing. PCI interrupts are shared and
/// level-triggered (PCI 3.0, 2.2.6), so every PIRQ counts the pins asserting it and an IRQ is high while any
/// PIRQ routed to it has an asserting pin.
/// </summary>
public sealed class PciIntxRouter
{
    public const int PirqCount = 4;

    /// <summary>PIRQRC bit 7: the PIRQ is not routed to any ISA IRQ (the power-on value of the register).</summary>
    public const byte RoutingDisabled = 0x80;

    private const int IsaIrqCount = 16;

    private readonly IInterruptController _interrupts;
    private readonly object _lock = new();
    private readonly int[] _assertedPins = new int[PirqCount];
    private readonly byte[] _routes = [RoutingDisabled, RoutingDisabled, RoutingDisabled, RoutingDisabled];
    private readonly bool[] _irqLevels = new bool[IsaIrqCount];

    public PciIntxRouter(IInterruptController interrupts) => _interrupts = interrupts;

    /// <summary>
    /// The PIRQ line (0 = PIRQA# .. 3 = PIRQD#) that INTx# pin <paramref name="pin"/> of a device in
    /// <paramref name="slot"/> is wired to: the rotation every PCI board uses (PCI 3.0, 2.2.6), as in QEMU's PIIX.
    /// </summary>
    public static int SwizzlePirq(int slot, PciInterruptPin pin)
    {
        if (pin is < PciInterruptPin.IntA or > PciInterruptPin.IntD)
            throw new ArgumentOutOfRangeException(nameof(pin), pin, "INTA#..INTD#");
        return (slot + (int)pin - 1) % PirqCount;
    }

    /// <summary>
    /// The ISA IRQ a PIRQRC value selects, or null when routing is disabled (bit 7) or bits 3:0 name a reserved
    /// value: the PIIX3 steers only to IRQ 3-7, 9-12, 14 and 15.
    /// </summary>
    public static int? DecodeRoute(byte pirqrc)
    {
        if ((pirqrc & RoutingDisabled) != 0) return null;
        int irq = pirqrc & 0x0F;
        return irq is < 3 or 8 or 13 ? null : irq;
    }

    public byte GetRoute(int pirq)
    {
        lock (_lock) return _routes[pirq];
    }

    /// <summary>Changes a PIRQ's route; a line that is asserted now moves to its new IRQ at once.</summary>
    public void SetRoute(int pirq, byte pirqrc)
    {
        lock (_lock)
        {
            _routes[pirq] = pirqrc;
            UpdateIrqLevels();
        }
    }

    /// <summary>Whether the router drives ISA IRQ <paramref name="irq"/> high now.</summary>
    public bool IsIrqAsserted(int irq)
    {
        lock (_lock) return _irqLevels[irq];
    }

    /// <summary>How many INTx# pins assert PIRQ <paramref name="pirq"/> now.</summary>
    public int AssertedPins(int pirq)
    {
        lock (_lock) return _assertedPins[pirq];
    }

    /// <summary>A device's INTx# pin changed level; callers report transitions only.</summary>
    internal void SetPinLevel(int slot, PciInterruptPin pin, bool asserted)
    {
        int pirq = SwizzlePirq(slot, pin);
        lock (_lock)
        {
            _assertedPins[pirq] += asserted ? 1 : -1;
            if (_assertedPins[pirq] < 0) throw new InvalidOperationException($"PIRQ{(char)('A' + pirq)} deasserted more than asserted");
            UpdateIrqLevels();
        }
    }

    private void UpdateIrqLevels()
    {
        Span<bool> levels = stackalloc bool[IsaIrqCount];
        for (int pirq = 0; pirq < PirqCount; pirq++)
            if (_assertedPins[pirq] > 0 && DecodeRoute(_routes[pirq]) is { } irq)
                levels[irq] = true;
        for (int irq = 0; irq < IsaIrqCount; irq++)
        {
            if (levels[irq] == _irqLevels[irq]) continue;
            _irqLevels[irq] = levels[irq];
            _interrupts.SetIrq(irq, levels[irq]);
        }
    }
}
