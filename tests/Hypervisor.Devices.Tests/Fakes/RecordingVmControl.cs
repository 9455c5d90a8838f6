using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Tests.Fakes;

/// <summary>Records the stop requests devices make (power-off, reset, debug exit).</summary>
public sealed class RecordingVmControl : IVmControl
{
    private readonly List<VmStopRequest> _requests = [];

    public IReadOnlyList<VmStopRequest> Requests
    {
        get
        {
            lock (_requests) return [.. _requests];
        }
    }

    public void RequestStop(VmStopRequest request)
    {
        lock (_requests) _requests.Add(request);
    }
}
