using System.Runtime.InteropServices;
using Hypervisor.Network.Tap;
using static Hypervisor.Network.VmLink.UnixDatagramNative;

namespace Hypervisor.Network.VmLink;

/// <summary>
/// A VM-to-VM Ethernet link between hv processes on one host, with no daemon: the link is a directory, and
/// every NIC on it binds one AF_UNIX datagram socket there (<c>DIR/PID-N.sock</c>); one datagram is one frame.
/// Each NIC is a learning bridge port: it remembers which socket a source MAC came from, sends unicast frames for
/// a known MAC to that socket alone and floods the rest (broadcast, multicast, unknown) to every socket in the
/// directory. A socket whose process died (ECONNREFUSED) is removed. Sends never block: a peer whose queue is
/// full loses the frame, as a congested switch port would.
/// </summary>
public sealed unsafe class VmLinkBackend : INetBackend
{
    /// <summary>How long a directory listing of peers is reused before a flood lists it again.</summary>
    private static readonly TimeSpan PeerListLifetime = TimeSpan.FromSeconds(1);

    private static int s_nextPort;

    private readonly int _fd;
    private readonly string _ownPath;
    private readonly NetReceiveThread _receiver;
    private readonly object _lock = new();
    private readonly List<Peer> _peers = [];
    private readonly Dictionary<ulong, Peer> _learned = [];
    private long _peersListedAt = long.MinValue / 2;
    private long _sendDrops;
    private int _disposed;

    private VmLinkBackend(string directory, string ownPath, int fd)
    {
        Directory = directory;
        _ownPath = ownPath;
        _fd = fd;
        _receiver = new NetReceiveThread("hv-vmlink", ReadFrame);
    }

    public string Directory { get; }
    public string SocketPath => _ownPath;
    public string Description => $"vmlink {Directory}";
    public int VnetHeaderSize => 0;

    /// <summary>Frames (or flood copies) a full or vanished peer did not take.</summary>
    public long SendDrops => Interlocked.Read(ref _sendDrops);

    /// <summary>
    /// Joins the link in <paramref name="directory"/> (created if missing); throws <see cref="NetBackendException"/>
    /// naming the cause when it cannot be created, is not a directory, cannot be written or the path is too long.
    /// </summary>
    public static VmLinkBackend Open(string directory)
    {
        string full = Path.GetFullPath(directory);
        if (File.Exists(full))
            throw new NetBackendException($"vmlink '{directory}': not a directory (the link is a directory of sockets)");
        try
        {
            System.IO.Directory.CreateDirectory(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NetBackendException($"vmlink '{directory}': cannot create the directory: {e.Message}", e);
        }
        string own = Path.Combine(full, $"{Environment.ProcessId}-{Interlocked.Increment(ref s_nextPort)}.sock");
        if (!SockAddrUn.TryCreate(own, out var address))
            throw new NetBackendException($"vmlink '{directory}': the path is too long for a UNIX socket (at most {PathSize - 20} bytes)");
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            throw new NetBackendException($"vmlink '{directory}': socket() failed: {LastError()}");
        // A file left by an earlier process with the same pid (the pid was reused) is stale by construction.
        File.Delete(own);
        if (bind(fd, &address, (uint)sizeof(SockAddrUn)) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            close(fd);
            throw new NetBackendException(errno == EACCES
                ? $"vmlink '{directory}': permission denied creating a socket in the directory"
                : $"vmlink '{directory}': bind {own}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return new VmLinkBackend(full, own, fd);
    }

    public void Start(INetFrameSink sink) => _receiver.Start(sink);

    public void ResumeReceive() => _receiver.Resume();

    public bool Send(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 14 || Volatile.Read(ref _disposed) != 0) return false;
        var destination = MacAddress.Read(frame);
        lock (_lock)
        {
            if (!destination.IsGroup && _learned.TryGetValue(destination.Value, out var known))
            {
                if (SendTo(known, frame)) return true;
                if (!known.Alive) Forget(known);
            }
            RefreshPeers();
            bool any = false;
            for (int i = _peers.Count - 1; i >= 0; i--)
            {
                var peer = _peers[i];
                if (SendTo(peer, frame)) any = true;
                else if (!peer.Alive) Forget(peer);
            }
            return any;
        }
    }

    private bool SendTo(Peer peer, ReadOnlySpan<byte> frame)
    {
        while (true)
        {
            nint n;
            var address = peer.Address;
            fixed (byte* p = frame) n = sendto(_fd, p, (nuint)frame.Length, MSG_DONTWAIT, &address, (uint)sizeof(SockAddrUn));
            if (n == frame.Length) return true;
            int errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno == EINTR) continue;
            if (errno is ECONNREFUSED or ENOENT)
            {
                // Nobody is bound there any more: its process exited without cleaning up (or just now).
                peer.Alive = false;
                if (errno == ECONNREFUSED) TryDelete(peer.Path);
            }
            Interlocked.Increment(ref _sendDrops);
            return false;
        }
    }

    /// <summary>Lists DIR/*.sock again when the cached list is older than <see cref="PeerListLifetime"/>. Under the lock.</summary>
    private void RefreshPeers()
    {
        long now = Environment.TickCount64;
        if (now - _peersListedAt < (long)PeerListLifetime.TotalMilliseconds) return;
        _peersListedAt = now;
        string[] paths;
        try
        {
            paths = System.IO.Directory.GetFiles(Directory, "*.sock");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        var keep = new HashSet<string>(paths, StringComparer.Ordinal);
        keep.Remove(_ownPath);
        for (int i = _peers.Count - 1; i >= 0; i--)
            if (!keep.Remove(_peers[i].Path)) Forget(_peers[i]);
        foreach (string path in keep)
            if (SockAddrUn.TryCreate(path, out var address)) _peers.Add(new Peer(path, address));
    }

    private void Forget(Peer peer)
    {
        _peers.Remove(peer);
        List<ulong>? stale = null;
        foreach (var (mac, p) in _learned)
            if (ReferenceEquals(p, peer)) (stale ??= []).Add(mac);
        if (stale is not null)
            foreach (ulong mac in stale) _learned.Remove(mac);
    }

    /// <summary>One frame from any peer; its source MAC is learned against the sender's socket.</summary>
    private int ReadFrame(Span<byte> buffer)
    {
        var pfd = new TunNative.PollFd { Fd = _fd, Events = TunNative.POLLIN };
        if (poll(&pfd, 1, (int)NetReceiveThread.RetryInterval.TotalMilliseconds) <= 0) return 0;
        SockAddrUn from;
        uint fromLength = (uint)sizeof(SockAddrUn);
        nint n;
        fixed (byte* p = buffer) n = recvfrom(_fd, p, (nuint)buffer.Length, MSG_DONTWAIT, &from, &fromLength);
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is EINTR or EAGAIN) return 0;
            throw new IOException($"vmlink '{Directory}': recvfrom failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        if (n >= 14) Learn(MacAddress.Read(buffer[6..]), ref from, fromLength);
        return (int)n;
    }

    private void Learn(MacAddress source, ref SockAddrUn from, uint fromLength)
    {
        if (source.IsGroup || fromLength <= sizeof(ushort)) return;
        lock (_lock)
        {
            if (_learned.TryGetValue(source.Value, out var known) && known.Alive && known.Matches(ref from)) return;
            Peer? peer = null;
            foreach (var p in _peers)
                if (p.Matches(ref from))
                {
                    peer = p;
                    break;
                }
            if (peer is null)
            {
                // A peer that joined since the last listing; an unnamed (unbound) sender cannot be answered.
                string? path = Peer.PathOf(ref from, fromLength);
                if (path is null || path == _ownPath) return;
                peer = new Peer(path, from);
                _peers.Add(peer);
            }
            _learned[source.Value] = peer;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Someone else's leftover in a shared directory; flooding just keeps skipping it.
        }
    }

    private static string LastError() => Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _receiver.Dispose();
        lock (_lock) close(_fd);
        TryDelete(_ownPath);
    }

    private sealed class Peer(string path, SockAddrUn address)
    {
        public string Path { get; } = path;
        public SockAddrUn Address = address;
        public bool Alive = true;

        public bool Matches(ref SockAddrUn other)
        {
            fixed (byte* mine = Address.Path)
            fixed (byte* theirs = other.Path)
            {
                var a = new ReadOnlySpan<byte>(mine, PathSize);
                var b = new ReadOnlySpan<byte>(theirs, PathSize);
                int end = a.IndexOf((byte)0);
                if (end < 0) end = PathSize;
                return a[..end].SequenceEqual(b[..Math.Min(PathSize, b.IndexOf((byte)0) is var e and >= 0 ? e : PathSize)]);
            }
        }

        public static string? PathOf(ref SockAddrUn address, uint length)
        {
            int max = Math.Min(PathSize, (int)length - sizeof(ushort));
            if (max <= 0) return null;
            fixed (byte* p = address.Path)
            {
                var bytes = new ReadOnlySpan<byte>(p, max);
                int end = bytes.IndexOf((byte)0);
                if (end == 0) return null;
                return System.Text.Encoding.UTF8.GetString(end < 0 ? bytes : bytes[..end]);
            }
        }
    }
}
