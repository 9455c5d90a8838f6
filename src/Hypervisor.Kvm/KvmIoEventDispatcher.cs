using Hypervisor.Platform.Native;
using Tmds.Linux;

namespace Hypervisor.Kvm;

/// <summary>
/// Serves ioeventfds (api.rst 4.59): KVM completes the guest's write to a registered address in the kernel and only
/// signals an eventfd, so the vCPU goes straight back to the guest; one thread here polls every such eventfd and
/// runs the callback of each that fired. Registrations can change at any time (a guest moving a BAR): the thread
/// picks up the new set when woken.
/// </summary>
public sealed unsafe class KvmIoEventDispatcher : IDisposable
{
    private readonly IKvmEventFds _vm;
    private readonly object _lock = new();
    private readonly List<Registration> _active = [];
    private readonly EventFd _wake = new();
    private readonly Thread _thread;
    private volatile bool _stopping;
    private bool _changed = true;

    /// <summary>The last exception a callback threw (a bug in the device behind it), for diagnostics.</summary>
    public string? LastError { get; private set; }

    public KvmIoEventDispatcher(IKvmEventFds vm)
    {
        _vm = vm;
        _thread = new Thread(Run) { IsBackground = true, Name = "hv-ioeventfd" };
        _thread.Start();
    }

    /// <summary>
    /// Registers a <paramref name="length"/>-byte write at guest-physical <paramref name="address"/> (any value)
    /// and runs <paramref name="onWrite"/> on the dispatcher thread after such writes (several may coalesce into
    /// one call). Dispose the result to remove it. Throws what KVM_IOEVENTFD reports.
    /// </summary>
    public IDisposable Add(ulong address, int length, Action onWrite)
    {
        var fd = _vm.CreateIoEventFd(address, length, isPort: false);
        var registration = new Registration(this, fd, onWrite);
        lock (_lock)
        {
            _active.Add(registration);
            _changed = true;
        }
        _wake.Signal();
        return registration;
    }

    /// <summary>
    /// Deassigns at once, so the same address can be registered again right away (a BAR toggled off and on):
    /// KVM refuses a duplicate with EEXIST. The thread may still poll the closed descriptor until it wakes; it
    /// tolerates that (POLLNVAL, a disposed <see cref="EventFd"/>).
    /// </summary>
    private void Remove(Registration registration)
    {
        lock (_lock)
        {
            if (!_active.Remove(registration)) return;
            _changed = true;
        }
        registration.Fd.Dispose();
        if (!_stopping) _wake.Signal();
    }

    private void Run()
    {
        Registration[] watched = [];
        var fds = new pollfd[1];
        while (!_stopping)
        {
            lock (_lock)
            {
                if (_changed)
                {
                    watched = [.. _active];
                    fds = new pollfd[watched.Length + 1];
                    _changed = false;
                }
            }
            fds[0] = new pollfd { fd = _wake.Fd, events = LibC.POLLIN };
            // The descriptor number captured at registration: the VM may close the eventfd itself at teardown
            // (KvmVm disposes its ioeventfds), and then poll reports POLLNVAL instead of this thread throwing.
            for (int i = 0; i < watched.Length; i++) fds[i + 1] = new pollfd { fd = watched[i].RawFd, events = LibC.POLLIN };
            int ready;
            fixed (pollfd* p = fds) ready = LibC.poll(p, (ulong_t)(ulong)fds.Length, -1);
            if (ready < 0)
            {
                // EINTR; nothing else is expected with valid descriptors, and this thread must not die.
                Thread.Sleep(1);
                continue;
            }
            if ((fds[0].revents & LibC.POLLIN) != 0) _wake.Drain();
            if (ready > 0 && HasInvalid(fds)) Thread.Sleep(1); // fds closed under us (VM teardown): do not spin
            for (int i = 0; i < watched.Length; i++)
            {
                if ((fds[i + 1].revents & LibC.POLLIN) == 0) continue;
                try
                {
                    if (watched[i].Fd.Event.Drain() == 0 || watched[i].Removed) continue;
                    watched[i].OnWrite();
                }
                catch (Exception e)
                {
                    // A device bug, or the VM closing its eventfds at shutdown, must not take the process down.
                    LastError = e.Message;
                }
            }
        }
    }

    private static bool HasInvalid(pollfd[] fds)
    {
        foreach (var fd in fds)
            if ((fd.revents & LibC.POLLNVAL) != 0) return true;
        return false;
    }

    public void Dispose()
    {
        _stopping = true;
        _wake.Signal();
        if (Thread.CurrentThread != _thread) _thread.Join();
        lock (_lock)
        {
            foreach (var r in _active) r.Fd.Dispose();
            _active.Clear();
        }
        _wake.Dispose();
    }

    private sealed class Registration(KvmIoEventDispatcher owner, KvmIoEventFd fd, Action onWrite) : IDisposable
    {
        public KvmIoEventFd Fd { get; } = fd;
        public int RawFd { get; } = fd.Event.Fd;
        public Action OnWrite { get; } = onWrite;
        public volatile bool Removed;

        public void Dispose()
        {
            Removed = true;
            owner.Remove(this);
        }
    }
}
