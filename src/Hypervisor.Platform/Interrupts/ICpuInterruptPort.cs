namespace Hypervisor.Platform.Interrupts;

/// <summary>
/// What a software CPU sees of the interrupt system: its INTR input (the LAPIC, or the PIC through LINT0 in
/// virtual-wire mode or with the APIC globally disabled), the INTA cycle, NMI, INIT and SIPI, and a wake-up
/// it can block on during HLT or wait-for-SIPI. One per vCPU; <see cref="IUserspaceIrqChip.PortFor"/> gives it.
/// </summary>
public interface ICpuInterruptPort
{
    int VcpuIndex { get; }

    /// <summary>This CPU's local APIC: its MMIO page, IA32_APIC_BASE, IA32_TSC_DEADLINE, CR8, save/restore.</summary>
    ILocalApic Lapic { get; }

    /// <summary>INTR is asserted: the CPU takes it at an instruction boundary when RFLAGS.IF = 1 and no shadow.</summary>
    bool HasPendingInterrupt { get; }

    /// <summary>
    /// The INTA cycle: returns the vector to run. PIC interrupts (ExtINT) come first, as in KVM; otherwise the
    /// LAPIC moves its highest deliverable request to in-service, or answers with its spurious vector.
    /// </summary>
    int AcknowledgeInterrupt();

    /// <summary>Takes a pending NMI.</summary>
    bool TakeNmi();

    /// <summary>Takes a pending INIT; the LAPIC is already in its INIT state, the caller resets the CPU.</summary>
    bool TakeInit();

    /// <summary>Takes a SIPI if the CPU waits for one: the vector (start at vector &lt;&lt; 12), else null.</summary>
    int? TakeSipi();

    /// <summary>An AP after power-up or INIT: it must not run until <see cref="TakeSipi"/> returns a vector.</summary>
    bool IsWaitingForSipi { get; }

    /// <summary>NMI, INIT, or SIPI (while waiting for one) is pending: these wake a CPU whatever RFLAGS.IF says.</summary>
    bool HasPendingSpecialEvent { get; }

    /// <summary>
    /// Blocks the vCPU thread until something may need it: NMI, INIT, SIPI (while waiting for one), a maskable
    /// interrupt when <paramref name="interruptsEnabled"/> (HLT with IF = 0 sleeps through INTR, SDM Vol. 2 HLT),
    /// a <see cref="Kick"/>, or the timeout. Returns whether an event is pending; callers re-check anyway.
    /// </summary>
    bool WaitForEvent(bool interruptsEnabled, TimeSpan timeout);

    /// <summary>
    /// Ends the current <see cref="WaitForEvent"/>, or the next one if none is in progress (pause, stop and reset
    /// requests from the VMM).
    /// </summary>
    void Kick();

    /// <summary>Signalled with every <see cref="Wakeup"/>, for callers that wait on several handles.</summary>
    WaitHandle WakeHandle { get; }

    /// <summary>
    /// Raised, on the thread that caused it, whenever something became pending for this vCPU. A running software
    /// CPU subscribes to stop at its next block boundary and look (interrupts are taken only there).
    /// </summary>
    event Action? Wakeup;
}
