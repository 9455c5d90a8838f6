namespace Hypervisor.Devices.Virtio;

/// <summary>
/// A device's I/O thread: a queue notification only sets an event, and the work (disk I/O, copies) runs here, so
/// the vCPU that notified goes straight back to the guest (ARCHITECTURE.md, Threads). An exception that escapes
/// the work is a bug in hv, not the guest's doing; it goes to <paramref name="onFault"/> and the thread lives on.
/// </summary>
internal sealed class VirtioWorker : IDisposable
{
    private readonly Thread _thread;
    private readonly AutoResetEvent _kick = new(false);
    private readonly Action _work;
    private readonly Action<Exception> _onFault;
    private volatile bool _stopping;

    public VirtioWorker(string name, Action work, Action<Exception> onFault)
    {
        _work = work;
        _onFault = onFault;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    public void Kick() => _kick.Set();

    public void Dispose()
    {
        _stopping = true;
        _kick.Set();
        if (Thread.CurrentThread != _thread) _thread.Join();
        _kick.Dispose();
    }

    private void Run()
    {
        while (true)
        {
            _kick.WaitOne();
            if (_stopping) return;
            try
            {
                _work();
            }
            catch (Exception e)
            {
                _onFault(e);
            }
        }
    }
}
