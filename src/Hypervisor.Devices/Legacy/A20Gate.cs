namespace Hypervisor.Devices.Legacy;

/// <summary>
/// The A20 mask line. On a PC two sources drive it: the keyboard controller's output port bit 1 and the fast A20
/// bit of port 0x92; the chipset ORs them. While it is off the CPU forces physical address bit 20 to zero, so
/// real-mode code sees the 8086's wrap at 1 MiB. The BT engine masks addresses with it; under KVM the kernel
/// has no A20 masking, and guests that enable A20 (every modern one) behave the same.
/// </summary>
public sealed class A20Gate
{
    private readonly object _lock = new();
    private bool _keyboardController = true; // the 8042 output port latches all ones at reset
    private bool _fastA20;

    /// <summary>Raised with the new state whenever <see cref="Enabled"/> changes (on the thread that changed it).</summary>
    public event Action<bool>? Changed;

    public bool Enabled
    {
        get
        {
            lock (_lock) return _keyboardController || _fastA20;
        }
    }

    /// <summary>Address mask to AND into physical addresses: all ones, or bit 20 clear.</summary>
    public ulong AddressMask => Enabled ? ulong.MaxValue : ~(1UL << 20);

    internal void SetKeyboardController(bool enabled) => Set(ref _keyboardController, enabled);

    internal void SetFastA20(bool enabled) => Set(ref _fastA20, enabled);

    private void Set(ref bool source, bool value)
    {
        bool before, after;
        lock (_lock)
        {
            before = _keyboardController || _fastA20;
            source = value;
            after = _keyboardController || _fastA20;
        }
        if (before != after) Changed?.Invoke(after);
    }
}
