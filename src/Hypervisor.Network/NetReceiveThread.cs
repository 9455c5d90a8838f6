namespace Hypervisor.Network;

/// <summary>
/// The receive side every backend shares: one thread that reads a frame into a buffer it reuses and offers it to
/// the sink. When the sink has no room the frame is held and offered again on <see cref="Resume"/> (or after
/// <see cref="RetryInterval"/>, in case a wake-up raced), so the host's own queue (the TAP queue, the socket
/// buffer) absorbs the burst and nothing is allocated per packet.
/// </summary>
internal sealed class NetReceiveThread : IDisposable
{
    /// <summary>The largest frame read: an Ethernet frame with a 64 KiB payload (a GSO frame with offloads) plus header.</summary>
    public const int BufferSize = 65536 + 64;

    /// <summary>How long a wait for a frame or for room lasts before the thread looks at its stop flag again.</summary>
    public static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(100);

    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly FrameReader _read;
    private readonly AutoResetEvent _resume = new(false);
    private readonly Thread _thread;
    private INetFrameSink? _sink;
    private volatile bool _stopping;

    /// <summary>
    /// Reads one frame into the buffer; returns its length, 0 when nothing arrived within about
    /// <see cref="RetryInterval"/>, or -1 when the host side is gone for good.
    /// </summary>
    public delegate int FrameReader(Span<byte> buffer);

    public NetReceiveThread(string name, FrameReader read)
    {
        _read = read;
        _thread = new Thread(Run) { IsBackground = true, Name = name };
    }

    /// <summary>Frames read and dropped because the sink said so.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    private long _dropped;

    /// <summary>Frames the host side returned an error for (logged once; the link keeps going).</summary>
    public string? LastError { get; private set; }

    public void Start(INetFrameSink sink)
    {
        if (_sink is not null) throw new InvalidOperationException("the backend is already started");
        _sink = sink;
        _thread.Start();
    }

    public void Resume() => _resume.Set();

    private void Run()
    {
        var sink = _sink!;
        while (!_stopping)
        {
            int length;
            try
            {
                length = _read(_buffer);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                if (_stopping) return;
                LastError = e.Message;
                Thread.Sleep(RetryInterval);
                continue;
            }
            if (length < 0) return;
            if (length == 0) continue;
            while (!_stopping)
            {
                var result = sink.Deliver(_buffer.AsSpan(0, length));
                if (result == NetDelivery.Dropped) Interlocked.Increment(ref _dropped);
                if (result != NetDelivery.NoRoom) break;
                _resume.WaitOne(RetryInterval);
            }
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _resume.Set();
        if (_thread.IsAlive && Thread.CurrentThread != _thread) _thread.Join();
        _resume.Dispose();
    }
}
