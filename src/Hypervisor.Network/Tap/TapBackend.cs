using System.Runtime.InteropServices;
using System.Text;
using static Hypervisor.Network.Tap.TunNative;

namespace Hypervisor.Network.Tap;

/// <summary>
/// A TAP interface of the host kernel (Documentation/networking/tuntap.rst): /dev/net/tun attached with
/// TUNSETIFF to IFF_TAP | IFF_NO_PI, so every read and write is one Ethernet frame. IFF_VNET_HDR (a
/// virtio_net_hdr_v1 in front of each frame) is asked for only when offloads are wanted. The interface may exist
/// already (a persistent tap made with `ip tuntap add`, the usual way to give it an address before hv runs) or is
/// created, which needs CAP_NET_ADMIN.
/// </summary>
public sealed unsafe class TapBackend : INetBackend
{
    private const int VnetHeaderLength = 12;

    private readonly int _fd;
    private readonly NetReceiveThread _receiver;
    private int _disposed;

    private TapBackend(string name, int fd, bool vnetHeader)
    {
        InterfaceName = name;
        _fd = fd;
        VnetHeaderSize = vnetHeader ? VnetHeaderLength : 0;
        _receiver = new NetReceiveThread($"hv-tap-{name}", ReadFrame);
    }

    public string InterfaceName { get; }
    public string Description => $"tap {InterfaceName}";
    public int VnetHeaderSize { get; }

    /// <summary>Frames the guest sent that the kernel refused (interface down, ...).</summary>
    public long SendErrors => Interlocked.Read(ref _sendErrors);

    private long _sendErrors;

    /// <summary>
    /// Attaches to tap <paramref name="name"/>; throws <see cref="NetBackendException"/> naming the cause when
    /// /dev/net/tun is missing, the caller lacks the permission, the name is bad or taken by a non-tap device.
    /// </summary>
    public static TapBackend Open(string name, bool vnetHeader = false, string tunPath = "/dev/net/tun")
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length is 0 or >= IfNameSize || name.Contains('/') || name.Contains('\0') || name.Any(char.IsWhiteSpace))
            throw new NetBackendException($"tap '{name}': an interface name is 1 to {IfNameSize - 1} bytes without '/' or spaces");

        int fd = open(tunPath, O_RDWR | O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new NetBackendException(errno switch
            {
                ENOENT or ENODEV => $"tap '{name}': {tunPath} does not exist (is the tun module loaded?)",
                EACCES or EPERM => $"tap '{name}': permission denied opening {tunPath}",
                _ => $"tap '{name}': cannot open {tunPath}: {Marshal.GetPInvokeErrorMessage(errno)}",
            });
        }
        try
        {
            var request = new IfReq { Flags = (short)(IFF_TAP | IFF_NO_PI | (vnetHeader ? IFF_VNET_HDR : 0)) };
            nameBytes.CopyTo(new Span<byte>(request.Name, IfNameSize));
            if (ioctl(fd, TUNSETIFF, &request) < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new NetBackendException(errno switch
                {
                    EPERM or EACCES => $"tap '{name}': permission denied (creating a tap needs CAP_NET_ADMIN; " +
                        $"or create it once with `ip tuntap add {name} mode tap user $USER`)",
                    EBUSY => $"tap '{name}': the interface is in use by another process, or is not a tap",
                    EINVAL => $"tap '{name}': the interface exists and is not a tap (a tun device or another kind)",
                    _ => $"tap '{name}': TUNSETIFF failed: {Marshal.GetPInvokeErrorMessage(errno)}",
                });
            }
            if (vnetHeader)
            {
                int size = VnetHeaderLength;
                if (ioctl(fd, TUNSETVNETHDRSZ, &size) < 0)
                    throw new NetBackendException($"tap '{name}': TUNSETVNETHDRSZ failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }
            return new TapBackend(name, fd, vnetHeader);
        }
        catch
        {
            close(fd);
            throw;
        }
    }

    public void Start(INetFrameSink sink) => _receiver.Start(sink);

    public void ResumeReceive() => _receiver.Resume();

    public bool Send(ReadOnlySpan<byte> frame)
    {
        if (Volatile.Read(ref _disposed) != 0) return false;
        while (true)
        {
            nint n;
            fixed (byte* p = frame) n = write(_fd, p, (nuint)frame.Length);
            if (n == frame.Length) return true;
            if (n < 0 && Marshal.GetLastPInvokeError() == EINTR) continue;
            Interlocked.Increment(ref _sendErrors);
            return false;
        }
    }

    /// <summary>poll() with a timeout so the thread sees Dispose; then one read = one frame.</summary>
    private int ReadFrame(Span<byte> buffer)
    {
        var pfd = new PollFd { Fd = _fd, Events = POLLIN };
        int ready = poll(&pfd, 1, (int)NetReceiveThread.RetryInterval.TotalMilliseconds);
        if (ready <= 0) return 0;
        nint n;
        fixed (byte* p = buffer) n = read(_fd, p, (nuint)buffer.Length);
        if (n >= 0) return (int)n;
        int errno = Marshal.GetLastPInvokeError();
        if (errno is EINTR or EAGAIN) return 0;
        throw new IOException($"tap '{InterfaceName}': read failed: {Marshal.GetPInvokeErrorMessage(errno)}");
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _receiver.Dispose();
        close(_fd);
    }
}
