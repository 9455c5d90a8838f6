using System.Runtime.InteropServices;
using System.Text;

namespace Hypervisor.Network.VmLink;

/// <summary>
/// AF_UNIX datagram sockets through libc: .NET's Socket has no MSG_DONTWAIT, and a blocking sendto to a peer
/// whose queue is full would stall the guest's transmit path.
/// </summary>
internal static unsafe partial class UnixDatagramNative
{
    public const int AF_UNIX = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int MSG_DONTWAIT = 0x40;

    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOENT = 2;
    public const int ECONNREFUSED = 111;
    public const int ENOBUFS = 105;
    public const int EACCES = 13;
    public const int EADDRINUSE = 98;

    /// <summary>sizeof(sun_path): a path is at most 107 bytes plus NUL.</summary>
    public const int PathSize = 108;

    /// <summary>struct sockaddr_un: sun_family, then sun_path.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SockAddrUn
    {
        public ushort Family;
        public fixed byte Path[PathSize];

        public static bool TryCreate(string path, out SockAddrUn address)
        {
            address = new SockAddrUn { Family = AF_UNIX };
            int count = Encoding.UTF8.GetByteCount(path);
            if (count >= PathSize) return false;
            fixed (byte* p = address.Path) Encoding.UTF8.GetBytes(path, new Span<byte>(p, PathSize));
            return true;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int bind(int fd, SockAddrUn* address, uint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint sendto(int fd, byte* buffer, nuint length, int flags, SockAddrUn* address, uint addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recvfrom(int fd, byte* buffer, nuint length, int flags, SockAddrUn* address, uint* addressLength);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(Tap.TunNative.PollFd* fds, nuint count, int timeoutMs);
}
