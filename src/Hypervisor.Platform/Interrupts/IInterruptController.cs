namespace Hypervisor.Platform.Interrupts;

/// <summary>
/// How devices raise interrupts, whichever backend runs: under KVM this is the in-kernel irqchip
/// (KVM_IRQ_LINE, KVM_SIGNAL_MSI), under BT the userspace PIC + IOAPIC + LAPIC. Devices never know which.
/// </summary>
public interface IInterruptController
{
    /// <summary>
    /// Drives global system interrupt <paramref name="gsi"/> (ISA IRQs 0-15 are GSIs 0-15; PCI INTx lines are
    /// routed GSIs) to <paramref name="level"/>. Edge-triggered devices pulse: true, then false.
    /// </summary>
    void SetIrq(int gsi, bool level);

    /// <summary>Delivers a message-signalled interrupt as a PCI device's memory write would (MSI/MSI-X).</summary>
    void SendMsi(ulong address, uint data);
}

public static class InterruptControllerExtensions
{
    /// <summary>An edge on an edge-triggered line.</summary>
    public static void PulseIrq(this IInterruptController controller, int gsi)
    {
        controller.SetIrq(gsi, true);
        controller.SetIrq(gsi, false);
    }
}
