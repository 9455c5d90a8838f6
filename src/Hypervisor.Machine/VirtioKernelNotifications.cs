using Hypervisor.Devices.Virtio;
using Hypervisor.Kvm;

namespace Hypervisor.Machine;

/// <summary>
/// Under KVM, binds every virtio queue's notification address to an ioeventfd (VIRTIO 1.2, 4.1.4.4: the driver
/// writes the queue index, 2 bytes, at queue_notify_off * multiplier in the notify region), so a guest kick costs
/// no exit to userspace on the vCPU thread; the dispatcher thread calls <see cref="VirtioPciTransport.NotifyQueue"/>.
/// The bindings follow BAR4 wherever the guest maps it. A write of another width, or a queue KVM refused to bind,
/// still arrives through the MMIO exit path, so this is purely a fast path.
/// </summary>
internal sealed class VirtioKernelNotifications : IDisposable
{
    /// <summary>Linux's vp_notify writes the queue index with iowrite16.</summary>
    private const int NotifyWriteLength = 2;

    private readonly KvmIoEventDispatcher _dispatcher;
    private readonly Dictionary<VirtioPciTransport, List<IDisposable>> _bindings = [];
    private readonly TextWriter? _diagnostics;
    private bool _warned;

    public VirtioKernelNotifications(IKvmEventFds kvm, IEnumerable<VirtioPciTransport> transports, TextWriter? diagnostics)
    {
        _dispatcher = new KvmIoEventDispatcher(kvm);
        _diagnostics = diagnostics;
        foreach (var transport in transports)
        {
            lock (_bindings) _bindings[transport] = [];
            transport.NotifyAddressesChanged += Rebind;
            lock (transport.SyncRoot) Rebind(transport);
        }
    }

    private void Rebind(VirtioPciTransport transport)
    {
        lock (_bindings)
        {
            if (!_bindings.TryGetValue(transport, out var list)) return;
            foreach (var binding in list) binding.Dispose();
            list.Clear();
            for (int q = 0; q < transport.Device.Queues.Count; q++)
            {
                if (transport.QueueNotifyAddress(q) is not { } address) continue;
                int queue = q;
                try
                {
                    list.Add(_dispatcher.Add(address, NotifyWriteLength, () => transport.NotifyQueue(queue)));
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or ArgumentException)
                {
                    if (!_warned) _diagnostics?.WriteLine($"hv: {transport.Name}: no ioeventfd for queue {q} ({e.Message}); using MMIO exits");
                    _warned = true;
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_bindings)
        {
            foreach (var (transport, list) in _bindings)
            {
                transport.NotifyAddressesChanged -= Rebind;
                foreach (var binding in list) binding.Dispose();
            }
            _bindings.Clear();
        }
        _dispatcher.Dispose();
    }
}
