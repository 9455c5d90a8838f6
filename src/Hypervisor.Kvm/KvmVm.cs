using Hypervisor.Kvm.Native;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;
using static Hypervisor.Kvm.Native.KvmConstants;

namespace Hypervisor.Kvm;

/// <summary>
/// One KVM VM: the in-kernel irqchip and PIT, guest memory registered as user memory slots, and the vCPUs.
/// </summary>
public sealed unsafe partial class KvmVm : IVm, IKvmEventFds
{
    /// <summary>
    /// The three pages VMX needs for real-mode emulation (api.rst 4.40 KVM_SET_TSS_ADDR, 4.41
    /// KVM_SET_IDENTITY_MAP_ADDR). QEMU moved them from 0xFFFBD000 to just below 0xFF000000 once firmware grew
    /// past 256 KiB and collided with them; hv does the same. On AMD SVM they are unused.
    /// </summary>
    public const ulong IdentityMapAddress = 0xFEFF_C000;
    public const ulong TssAddress = IdentityMapAddress + 0x1000;
    private const ulong VmxReservedEnd = TssAddress + 0x3000;

    private readonly KvmHypervisor _kvm;
    private readonly List<KvmVcpu> _vcpus = [];
    private int _fd;
    private bool _dirtyLogging;

    internal KvmVm(KvmHypervisor kvm, VmSetup setup)
    {
        _kvm = kvm;
        Setup = setup;
        int maxVcpus = Math.Max(kvm.CheckExtension(KVM_CAP_MAX_VCPUS), kvm.CheckExtension(KVM_CAP_NR_VCPUS));
        if (setup.CpuCount < 1 || (maxVcpus > 0 && setup.CpuCount > maxVcpus))
            throw new ArgumentException($"--cpus {setup.CpuCount}: this KVM supports 1 to {maxVcpus} vCPUs");
        foreach (var region in setup.Memory.Regions)
            if (region.GuestPhysicalAddress < VmxReservedEnd && IdentityMapAddress < region.End)
                throw new ArgumentException(
                    $"memory region '{region.Name}' overlaps 0x{IdentityMapAddress:x}-0x{VmxReservedEnd - 1:x}, " +
                    "which KVM reserves for the TSS and identity map");

        _fd = KvmNative.Ioctl(kvm.Fd, KvmIoctls.KVM_CREATE_VM, 0, "KVM_CREATE_VM");
        try
        {
            ReadOnlyMemorySupported = kvm.CheckExtension(KVM_CAP_READONLY_MEM) > 0;
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_TSS_ADDR, TssAddress, "KVM_SET_TSS_ADDR");
            ulong identityMap = IdentityMapAddress;
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_IDENTITY_MAP_ADDR, &identityMap, "KVM_SET_IDENTITY_MAP_ADDR");
            // api.rst 4.24: the irqchip must exist before any vCPU; PIT2 needs it (4.57).
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
            var pit = new kvm_pit_config { flags = KVM_PIT_SPEAKER_DUMMY };
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_CREATE_PIT2, ref pit, "KVM_CREATE_PIT2");
            foreach (var region in setup.Memory.Regions) SetMemorySlot(region, logDirty: false);
            setup.Memory.AccessChanged += RemapSlot;
            Interrupts = new KvmInterruptController(this);
            InitializeRouting();
        }
        catch
        {
            KvmNative.Close(ref _fd);
            throw;
        }
    }

    public VmSetup Setup { get; }

    public IInterruptController Interrupts { get; }

    /// <summary>ROM regions are mapped read-only (guest writes become MMIO exits) when KVM can.</summary>
    public bool ReadOnlyMemorySupported { get; }

    internal KvmHypervisor Hypervisor => _kvm;

    internal int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(KvmVm));

    internal IIoHandler Io => Setup.Io;

    public IVcpu CreateVcpu(int index)
    {
        if (index < 0 || index >= Setup.CpuCount)
            throw new ArgumentOutOfRangeException(nameof(index), $"vCPU {index} is outside 0..{Setup.CpuCount - 1}");
        lock (_vcpus)
        {
            if (_vcpus.Any(v => v.Index == index)) throw new InvalidOperationException($"vCPU {index} already exists");
            var vcpu = new KvmVcpu(this, index);
            _vcpus.Add(vcpu);
            return vcpu;
        }
    }

    /// <summary>
    /// Starts or stops dirty-page tracking on every RAM slot (api.rst 4.35, KVM_MEM_LOG_DIRTY_PAGES), for live
    /// migration and incremental snapshots.
    /// </summary>
    public void SetDirtyLogging(bool enabled)
    {
        _dirtyLogging = enabled;
        foreach (var region in Setup.Memory.Regions)
            if (!region.ReadOnly) SetMemorySlot(region, enabled);
    }

    /// <summary>
    /// KVM_GET_DIRTY_LOG: one bit per 4 KiB page of <paramref name="region"/> written since the last call
    /// (the call also resets them). Needs <see cref="SetDirtyLogging"/> on.
    /// </summary>
    public ulong[] GetDirtyLog(MemoryRegion region)
    {
        if (!_dirtyLogging) throw new InvalidOperationException("dirty logging is off: call SetDirtyLogging(true) first");
        var bitmap = new ulong[(region.Size / 4096 + 63) / 64];
        fixed (ulong* p = bitmap)
        {
            var log = new kvm_dirty_log { slot = (uint)region.Slot, dirty_bitmap = p };
            KvmNative.Ioctl(Fd, KvmIoctls.KVM_GET_DIRTY_LOG, ref log, $"KVM_GET_DIRTY_LOG for '{region.Name}'");
        }
        return bitmap;
    }

    /// <summary>
    /// A region turned read-only or writable (shadow RAM): KVM lets a slot's flags change only through deleting
    /// it (memory_size 0) and creating it again (api.rst 4.35).
    /// </summary>
    private void RemapSlot(MemoryRegion region)
    {
        if (!ReadOnlyMemorySupported) return;
        var delete = new kvm_userspace_memory_region
        {
            slot = (uint)region.Slot,
            guest_phys_addr = region.GuestPhysicalAddress,
            memory_size = 0,
            userspace_addr = (ulong)region.HostAddress,
        };
        KvmNative.Ioctl(Fd, KvmIoctls.KVM_SET_USER_MEMORY_REGION, ref delete,
            $"KVM_SET_USER_MEMORY_REGION deleting '{region.Name}' at 0x{region.GuestPhysicalAddress:x}");
        SetMemorySlot(region, _dirtyLogging && !region.ReadOnly);
    }

    private void SetMemorySlot(MemoryRegion region, bool logDirty)
    {
        uint flags = 0;
        if (region.ReadOnly && ReadOnlyMemorySupported) flags |= KVM_MEM_READONLY;
        if (logDirty) flags |= KVM_MEM_LOG_DIRTY_PAGES;
        var slot = new kvm_userspace_memory_region
        {
            slot = (uint)region.Slot,
            flags = flags,
            guest_phys_addr = region.GuestPhysicalAddress,
            memory_size = region.Size,
            userspace_addr = (ulong)region.HostAddress,
        };
        KvmNative.Ioctl(Fd, KvmIoctls.KVM_SET_USER_MEMORY_REGION, ref slot,
            $"KVM_SET_USER_MEMORY_REGION for '{region.Name}' at 0x{region.GuestPhysicalAddress:x}");
    }

    public void Dispose()
    {
        Setup.Memory.AccessChanged -= RemapSlot;
        lock (_vcpus)
        {
            foreach (var vcpu in _vcpus) vcpu.Dispose();
            _vcpus.Clear();
        }
        DisposeEventFds();
        KvmNative.Close(ref _fd);
    }
}
