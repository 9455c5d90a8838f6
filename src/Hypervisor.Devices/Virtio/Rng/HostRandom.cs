using System.Runtime.InteropServices;

namespace Hypervisor.Devices.Virtio.Rng;

/// <summary>
/// The host kernel's CSPRNG through getrandom(2). .NET's RandomNumberGenerator goes through OpenSSL on Linux,
/// and a host without libssl would abort the whole VMM the first time the guest asks for entropy.
/// </summary>
internal static unsafe partial class HostRandom
{
    private const int EINTR = 4;

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint getrandom(byte* buffer, nuint length, uint flags);

    /// <summary>Fills <paramref name="span"/>; returns false only if the kernel refuses (then nothing more is written).</summary>
    public static bool Fill(Span<byte> span)
    {
        fixed (byte* p = span)
        {
            int done = 0;
            while (done < span.Length)
            {
                // Requests above 32 MiB may return short; small ones never block once the pool is initialised.
                nint n = getrandom(p + done, (nuint)(span.Length - done), 0);
                if (n > 0)
                {
                    done += (int)n;
                    continue;
                }
                if (n < 0 && Marshal.GetLastPInvokeError() == EINTR) continue;
                return false;
            }
        }
        return true;
    }
}
