using System.Runtime.InteropServices;

namespace Hypervisor.Network.Tap;

/// <summary>The libc calls and linux/if_tun.h constants the TAP backend needs.</summary>
internal static unsafe partial class TunNative
{
    public const int O_RDWR = 2;
    public const int O_CLOEXEC = 0x80000;

    /// <summary>_IOW('T', 202, int) and _IOW('T', 216, int).</summary>
    public const uint TUNSETIFF = 0x400454CA;
    public const uint TUNSETVNETHDRSZ = 0x400454D8;

    public const short IFF_TAP = 0x0002;
    public const short IFF_NO_PI = 0x1000;
    public const short IFF_VNET_HDR = 0x4000;

    /// <summary>IFNAMSIZ: names are at most 15 bytes plus the terminating NUL.</summary>
    public const int IfNameSize = 16;

    public const short POLLIN = 1;

    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int EINVAL = 22;
    public const int ENODEV = 19;

    /// <summary>struct ifreq as TUNSETIFF reads it: the name, then ifr_flags at offset 16; 40 bytes in all.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 40)]
    public struct IfReq
    {
        public fixed byte Name[IfNameSize];
        public short Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, void* argument);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int poll(PollFd* fds, nuint count, int timeoutMs);
}
