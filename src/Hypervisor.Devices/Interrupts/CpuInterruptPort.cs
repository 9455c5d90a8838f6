using Hypervisor.Platform.Interrupts;

namespace Hypervisor.Devices.Interrupts;

/// <summary>
/// One vCPU's <see cref="ICpuInterruptPort"/>: its <see cref="Interrupts.Lapic"/> and the PIC's INTR through it.
/// </summary>
internal sealed class CpuInterruptPort : ICpuInterruptPort, IDisposable
{
    private readonly Pic8259 _pic;
    private readonly ManualResetEventSlim _wake = new(false);
    private int _kicked;

    public CpuInterruptPort(int vcpuIndex, Lapic lapic, Pic8259 pic)
    {
        VcpuIndex = vcpuIndex;
        Lapic = lapic;
        _pic = pic;
        lapic.Wakeup += Signal;
    }

    public event Action? Wakeup;

    public int VcpuIndex { get; }

    public Lapic Lapic { get; }

    ILocalApic ICpuInterruptPort.Lapic => Lapic;

    public bool HasPendingInterrupt =>
        Lapic.HasDeliverableInterrupt || (Lapic.AcceptsPicInterrupt && _pic.HasInterrupt);

    public bool IsWaitingForSipi => Lapic.IsWaitingForSipi;

    public bool HasPendingSpecialEvent => Lapic.HasPendingSpecialEvent;

    public WaitHandle WakeHandle => _wake.WaitHandle;

    public int AcknowledgeInterrupt()
    {
        // With the APIC globally disabled the CPU's INTA goes to the PIC whatever it answers (SDM 11.4.3).
        if (Lapic.AcceptsPicInterrupt && (_pic.HasInterrupt || !Lapic.IsHardwareEnabled)) return _pic.Acknowledge();
        return Lapic.Acknowledge();
    }

    public bool TakeNmi() => Lapic.TakeNmi();

    public bool TakeInit() => Lapic.TakeInit();

    public int? TakeSipi() => Lapic.TakeSipi();

    public bool WaitForEvent(bool interruptsEnabled, TimeSpan timeout)
    {
        // Reset before looking, so an event that lands after the look still ends the wait.
        _wake.Reset();
        if (Interlocked.Exchange(ref _kicked, 0) != 0 || HasEvent(interruptsEnabled)) return HasEvent(interruptsEnabled);
        _wake.Wait(timeout);
        Interlocked.Exchange(ref _kicked, 0);
        return HasEvent(interruptsEnabled);
    }

    public void Kick()
    {
        // Sticky until a wait consumes it, so a kick just before the vCPU halts is not lost.
        Interlocked.Exchange(ref _kicked, 1);
        _wake.Set();
    }

    /// <summary>Something may have become pending: wake the vCPU and tell subscribers.</summary>
    internal void Signal()
    {
        _wake.Set();
        Wakeup?.Invoke();
    }

    public void Dispose()
    {
        Lapic.Wakeup -= Signal;
        _wake.Dispose();
    }

    private bool HasEvent(bool interruptsEnabled) =>
        Lapic.HasPendingSpecialEvent || (interruptsEnabled && HasPendingInterrupt);
}
