using System.Runtime.InteropServices;
using System.Text;
using Hypervisor.Kvm.Native;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Native;
using Tmds.Linux;
using static Hypervisor.Kvm.Native.KvmConstants;

namespace Hypervisor.Kvm;

/// <summary>Whether KVM can be used on this host, and if not, why (for <c>--accel auto</c>).</summary>
public readonly record struct KvmProbeResult(bool Usable, string Reason);

/// <summary>
/// The /dev/kvm backend. One instance holds the system fd; every VM it creates has the in-kernel irqchip
/// (PIC + IOAPIC + LAPIC) and PIT, so the machine does not put its userspace ones on the buses.
/// </summary>
public sealed unsafe class KvmHypervisor : IHypervisor
{
    public const string DefaultDevicePath = "/dev/kvm";

    /// <summary>
    /// Capabilities hv cannot run without (api.rst section 4 names the ioctl each one guards). READONLY_MEM,
    /// XSAVE, XCRS, DEBUGREGS and TSC_DEADLINE_TIMER are used when present.
    /// </summary>
    private static readonly (int Cap, string Name)[] RequiredCapabilities =
    [
        (KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"),
        (KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"),
        (KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"),
        (KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"),
        (KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"),
        (KVM_CAP_PIT2, "KVM_CAP_PIT2"),
        (KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"),
        (KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"),
        (KVM_CAP_IRQFD, "KVM_CAP_IRQFD"),
        (KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI"),
        (KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"),
        (KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"),
        (KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"),
    ];

    private int _fd;
    private readonly Lazy<kvm_cpuid_entry2[]> _supportedCpuid;
    private readonly Lazy<uint[]> _msrIndexList;

    private KvmHypervisor(int fd, string path)
    {
        _fd = fd;
        DevicePath = path;
        VcpuMmapSize = KvmNative.Ioctl(fd, KvmIoctls.KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
        _supportedCpuid = new Lazy<kvm_cpuid_entry2[]>(ReadSupportedCpuid);
        _msrIndexList = new Lazy<uint[]>(ReadMsrIndexList);
    }

    public string Name => "kvm";

    public bool HasInKernelIrqChip => true;

    public string DevicePath { get; }

    /// <summary>Size of the kvm_run area each vCPU maps (KVM_GET_VCPU_MMAP_SIZE).</summary>
    public int VcpuMmapSize { get; }

    internal int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(KvmHypervisor));

    /// <summary>
    /// Opens /dev/kvm and checks the API version and the capabilities hv needs. Throws
    /// <see cref="AccelerationUnavailableException"/> with what is wrong and what to do instead.
    /// </summary>
    public static KvmHypervisor Open(string devicePath = DefaultDevicePath)
    {
        int fd;
        fixed (byte* path = Encoding.UTF8.GetBytes(devicePath + "\0"))
            fd = LibC.open(path, LibC.O_RDWR | LibC.O_CLOEXEC, 0);
        if (fd < 0)
        {
            int errno = LinuxError.LastErrno;
            string why = errno switch
            {
                2 => $"{devicePath} does not exist: this host has no KVM (no VT-x/AMD-V exposed, or the kvm and " +
                     "kvm_intel/kvm_amd modules are not loaded)",
                13 => $"permission denied opening {devicePath}: add the user to the group that owns it (usually 'kvm')",
                _ => $"cannot open {devicePath}: {LinuxError.Describe(errno)}",
            };
            throw Unavailable(why);
        }
        try
        {
            int version = LibC.ioctl(fd, KvmIoctls.KVM_GET_API_VERSION, 0);
            if (version != KVM_API_VERSION)
                throw Unavailable(version < 0
                    ? $"KVM_GET_API_VERSION on {devicePath} failed: {LinuxError.Describe(LinuxError.LastErrno)}"
                    : $"{devicePath} speaks KVM API version {version}, hv needs {KVM_API_VERSION}");
            var missing = RequiredCapabilities.Where(c => LibC.ioctl(fd, KvmIoctls.KVM_CHECK_EXTENSION, c.Cap) <= 0)
                .Select(c => c.Name).ToList();
            if (missing.Count != 0)
                throw Unavailable($"the KVM on {devicePath} lacks {string.Join(", ", missing)}");
            return new KvmHypervisor(fd, devicePath);
        }
        catch
        {
            LibC.close(fd);
            throw;
        }
    }

    /// <summary>Says whether <see cref="Open"/> would succeed, without keeping anything open.</summary>
    public static KvmProbeResult Probe(string devicePath = DefaultDevicePath)
    {
        try
        {
            using var kvm = Open(devicePath);
            return new KvmProbeResult(true, $"{devicePath} opened, KVM API version {KVM_API_VERSION}");
        }
        catch (AccelerationUnavailableException e)
        {
            return new KvmProbeResult(false, e.Message);
        }
        catch (IOException e)
        {
            return new KvmProbeResult(false, $"{devicePath}: {e.Message}");
        }
    }

    private static AccelerationUnavailableException Unavailable(string why) =>
        new($"KVM is not usable: {why}. Use --accel bt to run with binary translation instead.");

    /// <summary>KVM_CHECK_EXTENSION: 0 when absent, otherwise 1 or a capability-specific number.</summary>
    public int CheckExtension(int capability) =>
        Math.Max(0, LibC.ioctl(Fd, KvmIoctls.KVM_CHECK_EXTENSION, capability));

    public IVm CreateVm(VmSetup setup) => new KvmVm(this, setup);

    /// <summary>KVM_GET_SUPPORTED_CPUID, read once: the base every vCPU's CPUID table is filtered from.</summary>
    internal ReadOnlySpan<kvm_cpuid_entry2> SupportedCpuid => _supportedCpuid.Value;

    /// <summary>KVM_GET_MSR_INDEX_LIST: the MSRs KVM can save and restore.</summary>
    internal ReadOnlySpan<uint> MsrIndexList => _msrIndexList.Value;

    private kvm_cpuid_entry2[] ReadSupportedCpuid()
    {
        // api.rst 4.46: E2BIG means the array was too small; grow until the kernel's table fits.
        for (int capacity = 64; ; capacity *= 2)
        {
            int bytes = sizeof(kvm_cpuid2) + capacity * sizeof(kvm_cpuid_entry2);
            var buffer = (kvm_cpuid2*)NativeMemory.AllocZeroed((nuint)bytes);
            try
            {
                buffer->nent = (uint)capacity;
                if (LibC.ioctl(Fd, KvmIoctls.KVM_GET_SUPPORTED_CPUID, buffer) < 0)
                {
                    int errno = LinuxError.LastErrno;
                    if (errno == LibC.E2BIG && capacity < 4096) continue;
                    throw LinuxError.Exception("KVM_GET_SUPPORTED_CPUID", errno);
                }
                return new ReadOnlySpan<kvm_cpuid_entry2>(buffer + 1, (int)buffer->nent).ToArray();
            }
            finally
            {
                NativeMemory.Free(buffer);
            }
        }
    }

    private uint[] ReadMsrIndexList()
    {
        // api.rst 4.3: called with nmsrs = 0 it fails with E2BIG and says how many there are.
        kvm_msr_list probe = default;
        if (LibC.ioctl(Fd, KvmIoctls.KVM_GET_MSR_INDEX_LIST, &probe) < 0 && LinuxError.LastErrno != LibC.E2BIG)
            throw LinuxError.Exception("KVM_GET_MSR_INDEX_LIST");
        int count = (int)probe.nmsrs;
        var buffer = (kvm_msr_list*)NativeMemory.AllocZeroed((nuint)(sizeof(kvm_msr_list) + count * sizeof(uint)));
        try
        {
            buffer->nmsrs = (uint)count;
            KvmNative.Ioctl(Fd, KvmIoctls.KVM_GET_MSR_INDEX_LIST, buffer, "KVM_GET_MSR_INDEX_LIST");
            return new ReadOnlySpan<uint>(buffer + 1, (int)buffer->nmsrs).ToArray();
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    public void Dispose() => KvmNative.Close(ref _fd);
}
