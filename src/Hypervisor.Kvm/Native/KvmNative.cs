using System.Runtime.InteropServices;
using Hypervisor.Platform.Native;
using Tmds.Linux;

namespace Hypervisor.Kvm.Native;

/// <summary>ioctl calls on KVM file descriptors that turn a failure into an exception naming the request.</summary>
internal static unsafe class KvmNative
{
    /// <summary>An ioctl that returns a non-negative value on success; EINTR is retried (only KVM_RUN must see it).</summary>
    public static int Ioctl(int fd, int request, void* arg, string what)
    {
        while (true)
        {
            int r = LibC.ioctl(fd, request, arg);
            if (r >= 0) return r;
            int errno = LinuxError.LastErrno;
            if (errno == LibC.EINTR) continue;
            throw LinuxError.Exception(what, errno);
        }
    }

    public static int Ioctl(int fd, int request, ulong arg, string what) => Ioctl(fd, request, (void*)arg, what);

    public static int Ioctl<T>(int fd, int request, ref T arg, string what) where T : unmanaged
    {
        fixed (T* p = &arg) return Ioctl(fd, request, p, what);
    }

    public static void Close(ref int fd)
    {
        if (fd < 0) return;
        LibC.close(fd);
        fd = -1;
    }
}

/// <summary>
/// The thread calls that Tmds.LibC does not expose (pthread_self) or that need the raw pthread_t.
/// </summary>
internal static partial class NativeThread
{
    [LibraryImport("libc", EntryPoint = "pthread_self")]
    public static partial nuint Self();

    /// <summary>Returns 0 or an errno value (pthread_kill does not set errno).</summary>
    [LibraryImport("libc", EntryPoint = "pthread_kill")]
    public static partial int Kill(nuint thread, int signal);
}
