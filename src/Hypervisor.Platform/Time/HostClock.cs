using System.Diagnostics;

namespace Hypervisor.Platform.Time;

/// <summary>
/// Host monotonic time, with one background thread that fires armed timers in deadline order.
/// </summary>
public sealed class HostClock : VirtualClock, IDisposable
{
    private readonly long _origin = Stopwatch.GetTimestamp();
    private readonly object _lock = new();
    private readonly PriorityQueue<Timer, long> _queue = new();
    private readonly Thread _thread;
    private bool _disposed;

    public HostClock()
    {
        _thread = new Thread(TimerLoop) { IsBackground = true, Name = "hv-clock" };
        _thread.Start();
    }

    public override long NowNanoseconds
    {
        get
        {
            long ticks = Stopwatch.GetTimestamp() - _origin;
            return (long)((UInt128)(ulong)ticks * 1_000_000_000UL / (ulong)Stopwatch.Frequency);
        }
    }

    public override IVirtualTimer CreateTimer(Action onExpired) => new Timer(this, onExpired);

    private void TimerLoop()
    {
        lock (_lock)
        {
            while (!_disposed)
            {
                if (!_queue.TryPeek(out var timer, out long deadline))
                {
                    Monitor.Wait(_lock);
                    continue;
                }
                if (timer.Generation < 0 || deadline != timer.Deadline)
                {
                    _queue.Dequeue(); // stale entry left by a re-arm or disarm
                    continue;
                }
                long wait = deadline - NowNanoseconds;
                if (wait > 0)
                {
                    Monitor.Wait(_lock, TimeSpan.FromTicks(Math.Max(1, wait / 100)));
                    continue;
                }
                _queue.Dequeue();
                timer.Generation = -1;
                Monitor.Exit(_lock);
                try
                {
                    timer.Callback();
                }
                finally
                {
                    Monitor.Enter(_lock);
                }
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            Monitor.PulseAll(_lock);
        }
    }

    private sealed class Timer(HostClock clock, Action callback) : IVirtualTimer
    {
        public readonly Action Callback = callback;
        public long Deadline;

        /// <summary>-1 while disarmed; otherwise armed.</summary>
        public long Generation = -1;

        public bool IsArmed
        {
            get
            {
                lock (clock._lock) return Generation >= 0;
            }
        }

        public void ArmAt(long deadlineNanoseconds)
        {
            lock (clock._lock)
            {
                Deadline = deadlineNanoseconds;
                Generation = 0;
                clock._queue.Enqueue(this, deadlineNanoseconds);
                Monitor.PulseAll(clock._lock);
            }
        }

        public void Disarm()
        {
            lock (clock._lock) Generation = -1;
        }

        public void Dispose() => Disarm();
    }
}
