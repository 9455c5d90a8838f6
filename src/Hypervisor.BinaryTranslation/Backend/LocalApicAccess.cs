using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Interrupts;

namespace Hypervisor.BinaryTranslation.Backend;

/// <summary>
/// The engine's view of one vCPU's local APIC (<see cref="ILocalApicAccess"/>) over the machine's
/// <see cref="ILocalApic"/>. Every write the CPU makes to the APIC (EOI, TPR, SVR, ICR, CR8, IA32_APIC_BASE) can
/// make another interrupt deliverable without a new request arriving, so it also ends the current block: the
/// backend looks for interrupts only between blocks.
/// </summary>
internal sealed class LocalApicAccess(ILocalApic apic, Action interruptCheckNeeded) : ILocalApicAccess
{
    public ulong ApicBase => apic.ApicBase;

    public bool SetApicBase(ulong value)
    {
        if (!apic.TryWriteApicBase(value)) return false;
        interruptCheckNeeded();
        return true;
    }

    public ulong TscDeadline
    {
        get => apic.TscDeadline;
        set => apic.WriteTscDeadline(value);
    }

    public ulong Cr8
    {
        get => apic.Cr8;
        set
        {
            apic.Cr8 = value;
            interruptCheckNeeded();
        }
    }

    public bool TryRead(ulong physical, Span<byte> data) => apic.TryRead(physical, data);

    public bool TryWrite(ulong physical, ReadOnlySpan<byte> data)
    {
        if (!apic.TryWrite(physical, data)) return false;
        interruptCheckNeeded();
        return true;
    }
}
