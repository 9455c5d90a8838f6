using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Machine.Tests;

public class VmLifecycleTests
{
    [Theory]
    [InlineData(VmStopReason.PowerOff, 0, 0)]
    [InlineData(VmStopReason.DebugExit, 67, 67)]   // isa-debug-exit wrote 0x21: (0x21 << 1) | 1
    [InlineData(VmStopReason.Fatal, 0, 1)]         // a fatal stop is never reported as success
    [InlineData(VmStopReason.Fatal, 3, 3)]
    public void ExitStatusFollowsQemuConventions(VmStopReason reason, int requested, int expected) =>
        Assert.Equal(expected, VmLifecycle.ExitStatusFor(new VmStopRequest(reason, requested)));

    [Fact]
    public void TheFirstStopRequestWinsAndIsAnnouncedOnce()
    {
        var lifecycle = new VmLifecycle();
        var announced = new List<VmStopRequest>();
        lifecycle.StopRequested += announced.Add;
        lifecycle.RequestStop(new VmStopRequest(VmStopReason.DebugExit, 5));
        lifecycle.RequestStop(new VmStopRequest(VmStopReason.PowerOff, 0));
        Assert.True(lifecycle.IsStopping);
        Assert.Equal(VmStopReason.DebugExit, lifecycle.Request!.Value.Reason);
        Assert.Single(announced);
        lifecycle.Clear();
        Assert.False(lifecycle.IsStopping);
    }

    [Fact]
    public void ConcurrentRequestsAnnounceExactlyOne()
    {
        var lifecycle = new VmLifecycle();
        int announced = 0;
        lifecycle.StopRequested += _ => Interlocked.Increment(ref announced);
        Parallel.For(0, 64, i => lifecycle.RequestStop(new VmStopRequest(VmStopReason.Fatal, i + 1)));
        Assert.Equal(1, announced);
    }
}
