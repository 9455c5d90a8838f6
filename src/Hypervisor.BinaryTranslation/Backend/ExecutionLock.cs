namespace Hypervisor.BinaryTranslation.Backend;

/// <summary>
/// The one lock under which guest code runs (QEMU's pre-MTTCG design: the interpreter's block cache, code-page
/// invalidation and TLB fills are not thread-safe, so vCPUs take turns). It is a ticket lock: turns are handed
/// out in arrival order, so a vCPU spinning in a guest spinlock cannot starve the one that holds it.
/// </summary>
public sealed class ExecutionLock
{
    private readonly object _gate = new();
    private long _nextTicket;
    private long _serving;

    /// <summary>Threads waiting for their turn (not counting the holder).</summary>
    public long WaitingCount => Math.Max(0, Interlocked.Read(ref _nextTicket) - Interlocked.Read(ref _serving) - 1);

    /// <summary>A running vCPU hands over at its next slice end only when someone waits.</summary>
    public bool HasWaiters => WaitingCount > 0;

    /// <summary>Turns that have ended (<see cref="Exit"/> calls): how often vCPUs handed over or stopped.</summary>
    public long CompletedTurns => Interlocked.Read(ref _serving);

    public void Enter()
    {
        long ticket = Interlocked.Increment(ref _nextTicket) - 1;
        if (Interlocked.Read(ref _serving) == ticket) return;
        lock (_gate)
        {
            while (Interlocked.Read(ref _serving) != ticket) Monitor.Wait(_gate);
        }
    }

    public void Exit()
    {
        Interlocked.Increment(ref _serving);
        // Only a waiter needs the pulse; the common single-vCPU case stays lock-free.
        if (Interlocked.Read(ref _nextTicket) - Interlocked.Read(ref _serving) > 0)
            lock (_gate) Monitor.PulseAll(_gate);
    }
}
