using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Hypervisor.Platform.Native;

/// <summary>Turns a failed libc call into a message that names the call and errno.</summary>
public static class LinuxError
{
    public static int LastErrno => Marshal.GetLastPInvokeError() is var e && e != 0 ? e : LibC.errno;

    public static string Describe(int errno) => $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";

    public static IOException Exception(string what) => Exception(what, LibC.errno);

    public static IOException Exception(string what, int errno) => new($"{what}: {Describe(errno)}");
}
