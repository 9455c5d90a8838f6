using Hypervisor.Kvm;
using Hypervisor.Platform.Interrupts;

namespace Hypervisor.Machine;

/// <summary>
/// The interrupt controller PCI devices see. Lines pass straight through; MSI and MSI-X messages too, until
/// <see cref="UseIrqFds"/> switches them to KVM irqfds (api.rst 4.75): each distinct message (address, data) gets
/// a GSI routed to it (KVM_SET_GSI_ROUTING, type MSI) and an eventfd bound to that GSI, so raising the vector is
/// one eventfd write from the device's thread and KVM injects it without a VMM ioctl. Guests program a vector's
/// message once (again when its affinity moves), so the table stays small; past <see cref="MaxRoutes"/> messages,
/// or if KVM refuses a route, the message goes out as before.
/// </summary>
internal sealed class MsiIrqFdRouter(IInterruptController inner) : IInterruptController, IDisposable
{
    /// <summary>Bounds the GSIs hv takes from KVM's routing table (KVM_MAX_IRQ_ROUTES is 4096).</summary>
    public const int MaxRoutes = 512;

    private readonly object _lock = new();
    private readonly Dictionary<(ulong Address, uint Data), KvmIrqFd> _routes = [];
    private IKvmEventFds? _kvm;
    private bool _full;

    public void UseIrqFds(IKvmEventFds kvm)
    {
        lock (_lock) _kvm = kvm;
    }

    public void SetIrq(int gsi, bool level) => inner.SetIrq(gsi, level);

    public void SendMsi(ulong address, uint data)
    {
        KvmIrqFd? irqFd;
        lock (_lock)
        {
            if (_kvm is null || !_routes.TryGetValue((address, data), out irqFd)) irqFd = _kvm is null ? null : AddRoute(address, data);
        }
        if (irqFd is not null) irqFd.Trigger();
        else inner.SendMsi(address, data);
    }

    /// <summary>Under the lock.</summary>
    private KvmIrqFd? AddRoute(ulong address, uint data)
    {
        if (_full || _routes.Count >= MaxRoutes) return null;
        int gsi = -1;
        try
        {
            gsi = _kvm!.AddMsiRoute(address, data);
            var irqFd = _kvm.CreateIrqFd(gsi);
            _routes[(address, data)] = irqFd;
            return irqFd;
        }
        catch (IOException)
        {
            // The routing table is full or irqfds are unavailable: KVM_SIGNAL_MSI from here on.
            if (gsi >= 0) _kvm!.RemoveMsiRoute(gsi);
            _full = true;
            return null;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            // The routes go with the VM (which may already be closed); only the eventfds are hv's to close.
            foreach (var irqFd in _routes.Values) irqFd.Dispose();
            _routes.Clear();
            _kvm = null;
        }
    }
}
