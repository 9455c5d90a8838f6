using Hypervisor.Devices.Interrupts;

namespace Hypervisor.Devices.Tests.Interrupts;

/// <summary>An APIC bus that records messages and EOI broadcasts; <see cref="Acceptors"/> is what Deliver reports.</summary>
public sealed class RecordingApicBus : IApicBus
{
    public List<ApicMessage> Messages { get; } = [];

    public List<byte> Eois { get; } = [];

    /// <summary>How many LAPICs "accept" each message (0 simulates a destination nobody answers).</summary>
    public int Acceptors { get; set; } = 1;

    /// <summary>Called for every EOI broadcast, after recording it (to connect an IOAPIC).</summary>
    public Action<byte>? OnEoi { get; set; }

    public int Deliver(in ApicMessage message, Lapic? sender)
    {
        Messages.Add(message);
        return Acceptors;
    }

    public void BroadcastEoi(byte vector)
    {
        Eois.Add(vector);
        OnEoi?.Invoke(vector);
    }
}
