using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Hypervisor.Cli.Host;

/// <summary>
/// Whether /dev/kvm can run guests here. <paramref name="Reason"/> completes a sentence that starts with the
/// device path: "does not exist ...", "cannot be opened: ...", "answers KVM API version 12".
/// </summary>
public sealed record KvmStatus(bool Usable, string Reason);

/// <summary>
/// Opens /dev/kvm and asks its API version, so the CLI can say up front that --accel kvm cannot work and
/// that --accel bt can. The KVM backend repeats the check when it really opens the device.
/// </summary>
public static unsafe class KvmProbe
{
    public const string DevicePath = "/dev/kvm";

    // KVM_GET_API_VERSION = _IO(KVMIO, 0x00); every KVM since Linux 2.6.22 answers 12 (KVM_API_VERSION).
    private const int KvmGetApiVersion = 0xAE00;
    private const int KvmApiVersion = 12;

    public static KvmStatus Probe(string path = DevicePath)
    {
        if (!File.Exists(path))
            return new KvmStatus(false, "does not exist: no KVM module is loaded, or the CPU has no hardware virtualization");

        byte[] name = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        int fd;
        fixed (byte* p = name)
            fd = LibC.open(p, LibC.O_RDWR | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError() is var e && e != 0 ? e : LibC.errno;
            string hint = errno == LibC.EACCES ? " (is this user in the kvm group?)" : "";
            return new KvmStatus(false, $"cannot be opened: {Marshal.GetPInvokeErrorMessage(errno)}{hint}");
        }
        try
        {
            int version = LibC.ioctl(fd, KvmGetApiVersion);
            if (version != KvmApiVersion)
                return new KvmStatus(false, version < 0
                    ? "is not a KVM device (KVM_GET_API_VERSION failed)"
                    : $"answers KVM API version {version}, hv needs {KvmApiVersion}");
            return new KvmStatus(true, $"answers KVM API version {version}");
        }
        finally
        {
            LibC.close(fd);
        }
    }
}
