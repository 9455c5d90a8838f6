using Hypervisor.BinaryTranslation.Backend;

namespace Hypervisor.BinaryTranslation.Tests.Backend;

public class ExecutionLockTests
{
    [Fact]
    public void TurnsAreGrantedInArrivalOrder()
    {
        var gate = new ExecutionLock();
        var order = new List<int>();
        gate.Enter();
        var threads = new List<Thread>();
        for (int i = 0; i < 4; i++)
        {
            int id = i;
            var t = new Thread(() =>
            {
                gate.Enter();
                lock (order) order.Add(id);
                gate.Exit();
            });
            threads.Add(t);
            t.Start();
            // Each thread takes its ticket before the next starts.
            SpinWait.SpinUntil(() => gate.WaitingCount == id + 1, TimeSpan.FromSeconds(5));
        }
        Assert.True(gate.HasWaiters);
        gate.Exit();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal([0, 1, 2, 3], order);
        Assert.False(gate.HasWaiters);
    }
}
