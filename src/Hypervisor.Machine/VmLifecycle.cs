using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Machine;

/// <summary>
/// Collects stop requests from devices (any thread) and vCPU exits, keeps the first one, and wakes the
/// machine's run loop so it can kick every vCPU.
/// </summary>
public sealed class VmLifecycle : IVmControl
{
    private readonly object _lock = new();
    private VmStopRequest? _request;

    /// <summary>Raised once, on the requesting thread, when the first stop request arrives.</summary>
    public event Action<VmStopRequest>? StopRequested;

    public VmStopRequest? Request
    {
        get
        {
            lock (_lock) return _request;
        }
    }

    public bool IsStopping => Request is not null;

    public void RequestStop(VmStopRequest request)
    {
        lock (_lock)
        {
            if (_request is not null) return;
            _request = request;
        }
        StopRequested?.Invoke(request);
    }

    /// <summary>Forgets a handled reset so the machine can run again.</summary>
    public void Clear()
    {
        lock (_lock) _request = null;
    }

    /// <summary>The process exit status for a stop, as QEMU reports the same events.</summary>
    public static int ExitStatusFor(VmStopRequest request) => request.Reason switch
    {
        VmStopReason.PowerOff => 0,
        VmStopReason.Reset => 0,
        VmStopReason.DebugExit => request.ExitStatus,
        _ => request.ExitStatus != 0 ? request.ExitStatus : 1,
    };
}
