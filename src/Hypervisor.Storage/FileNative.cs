using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Hypervisor.Storage;

/// <summary>The libc calls .NET's file API lacks: fdatasync, fallocate modes, lseek for block device sizes.</summary>
internal static partial class FileNative
{
    /// <summary>fallocate(2) modes from linux/falloc.h.</summary>
    public const int FallocKeepSize = 0x01;
    public const int FallocPunchHole = 0x02;
    public const int FallocZeroRange = 0x10;

    public const int SeekEnd = 2;

    public const int EOPNOTSUPP = 95;
    public const int ENOSYS = 38;
    public const int EINVAL = 22;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fdatasync(SafeFileHandle fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fallocate(SafeFileHandle fd, int mode, long offset, long length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial long lseek(SafeFileHandle fd, long offset, int whence);

    public static IOException Error(string what, string path)
    {
        int errno = Marshal.GetLastPInvokeError();
        return new IOException($"{what} on '{path}': {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
    }
}
