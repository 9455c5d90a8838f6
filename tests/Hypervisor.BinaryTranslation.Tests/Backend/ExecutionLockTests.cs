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

    /// <summary>
    /// The PAUSE hand-over: the holder exits and at once asks again, as a yielding vCPU does. The waiter must have
    /// had its turn before the holder's next one starts, every time, however fast the holder comes back.
    /// </summary>
    [Fact]
    public void AHolderThatExitsAndReentersAtOnceLetsTheWaiterInFirst()
    {
        var gate = new ExecutionLock();
        const int rounds = 200;
        int waiterTurns = 0;
        bool stop = false;
        gate.Enter();
        var waiter = new Thread(() =>
        {
            while (true)
            {
                gate.Enter();
                bool last = Volatile.Read(ref stop);
                Interlocked.Increment(ref waiterTurns);
                gate.Exit();
                if (last) return;
            }
        });
        waiter.Start();
        for (int i = 0; i < rounds; i++)
        {
            // Wait until the waiter has taken its ticket, then hand over and ask again at once.
            Assert.True(SpinWait.SpinUntil(() => gate.HasWaiters, TimeSpan.FromSeconds(10)), $"round {i}: no waiter");
            int before = Volatile.Read(ref waiterTurns);
            gate.Exit();
            gate.Enter();
            Assert.True(Volatile.Read(ref waiterTurns) > before, $"round {i}: the holder got the lock back first");
        }
        Volatile.Write(ref stop, true);
        gate.Exit();
        Assert.True(waiter.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(rounds + 1 + waiterTurns, gate.CompletedTurns);
    }

    [Fact]
    public void WithoutWaitersEnterAndExitOnlyCountTurns()
    {
        var gate = new ExecutionLock();
        for (int i = 0; i < 1000; i++)
        {
            gate.Enter();
            Assert.False(gate.HasWaiters);
            gate.Exit();
        }
        Assert.Equal(1000, gate.CompletedTurns);
    }
}
