namespace Hypervisor.Kvm.Native;

/// <summary>
/// ioctl request numbers from linux/kvm.h, computed the way the _IO/_IOR/_IOW/_IOWR macros do
/// (asm-generic/ioctl.h: dir in bits 30-31, size in 16-29, type in 8-15, nr in 0-7). The names are the C
/// macro names so the layout test can compare every one with the compiler's value.
/// </summary>
internal static unsafe class KvmIoctls
{
    private const uint KVMIO = 0xAE;
    private const uint IocNone = 0, IocWrite = 1, IocRead = 2;

    internal static int Ioc(uint dir, uint type, uint nr, uint size) =>
        unchecked((int)((dir << 30) | (size << 16) | (type << 8) | nr));

    internal static int Io(uint nr) => Ioc(IocNone, KVMIO, nr, 0);
    internal static int Ior(uint nr, int size) => Ioc(IocRead, KVMIO, nr, (uint)size);
    internal static int Iow(uint nr, int size) => Ioc(IocWrite, KVMIO, nr, (uint)size);
    internal static int Iowr(uint nr, int size) => Ioc(IocRead | IocWrite, KVMIO, nr, (uint)size);

    // System ioctls (on the /dev/kvm fd).
    public static readonly int KVM_GET_API_VERSION = Io(0x00);
    public static readonly int KVM_CREATE_VM = Io(0x01);
    public static readonly int KVM_GET_MSR_INDEX_LIST = Iowr(0x02, sizeof(kvm_msr_list));
    public static readonly int KVM_CHECK_EXTENSION = Io(0x03);
    public static readonly int KVM_GET_VCPU_MMAP_SIZE = Io(0x04);
    public static readonly int KVM_GET_SUPPORTED_CPUID = Iowr(0x05, sizeof(kvm_cpuid2));

    // VM ioctls.
    public static readonly int KVM_CREATE_VCPU = Io(0x41);
    public static readonly int KVM_GET_DIRTY_LOG = Iow(0x42, sizeof(kvm_dirty_log));
    public static readonly int KVM_SET_USER_MEMORY_REGION = Iow(0x46, sizeof(kvm_userspace_memory_region));
    public static readonly int KVM_SET_TSS_ADDR = Io(0x47);
    public static readonly int KVM_SET_IDENTITY_MAP_ADDR = Iow(0x48, sizeof(ulong));
    public static readonly int KVM_CREATE_IRQCHIP = Io(0x60);
    public static readonly int KVM_IRQ_LINE = Iow(0x61, sizeof(kvm_irq_level));
    public static readonly int KVM_SET_GSI_ROUTING = Iow(0x6a, sizeof(kvm_irq_routing));
    public static readonly int KVM_IRQFD = Iow(0x76, sizeof(kvm_irqfd));
    public static readonly int KVM_CREATE_PIT2 = Iow(0x77, sizeof(kvm_pit_config));
    public static readonly int KVM_IOEVENTFD = Iow(0x79, sizeof(kvm_ioeventfd));
    public static readonly int KVM_SIGNAL_MSI = Iow(0xa5, sizeof(kvm_msi));

    // vCPU ioctls.
    public static readonly int KVM_RUN = Io(0x80);
    public static readonly int KVM_GET_REGS = Ior(0x81, sizeof(kvm_regs));
    public static readonly int KVM_SET_REGS = Iow(0x82, sizeof(kvm_regs));
    public static readonly int KVM_GET_SREGS = Ior(0x83, sizeof(kvm_sregs));
    public static readonly int KVM_SET_SREGS = Iow(0x84, sizeof(kvm_sregs));
    public static readonly int KVM_GET_MSRS = Iowr(0x88, sizeof(kvm_msrs));
    public static readonly int KVM_SET_MSRS = Iow(0x89, sizeof(kvm_msrs));
    public static readonly int KVM_SET_SIGNAL_MASK = Iow(0x8b, sizeof(kvm_signal_mask));
    public static readonly int KVM_GET_FPU = Ior(0x8c, sizeof(kvm_fpu));
    public static readonly int KVM_SET_FPU = Iow(0x8d, sizeof(kvm_fpu));
    public static readonly int KVM_GET_LAPIC = Ior(0x8e, sizeof(kvm_lapic_state));
    public static readonly int KVM_SET_LAPIC = Iow(0x8f, sizeof(kvm_lapic_state));
    public static readonly int KVM_SET_CPUID2 = Iow(0x90, sizeof(kvm_cpuid2));
    public static readonly int KVM_GET_MP_STATE = Ior(0x98, sizeof(kvm_mp_state));
    public static readonly int KVM_SET_MP_STATE = Iow(0x99, sizeof(kvm_mp_state));
    public static readonly int KVM_GET_VCPU_EVENTS = Ior(0x9f, sizeof(kvm_vcpu_events));
    public static readonly int KVM_SET_VCPU_EVENTS = Iow(0xa0, sizeof(kvm_vcpu_events));
    public static readonly int KVM_GET_DEBUGREGS = Ior(0xa1, sizeof(kvm_debugregs));
    public static readonly int KVM_SET_DEBUGREGS = Iow(0xa2, sizeof(kvm_debugregs));
    public static readonly int KVM_GET_XSAVE = Ior(0xa4, sizeof(kvm_xsave));
    public static readonly int KVM_SET_XSAVE = Iow(0xa5, sizeof(kvm_xsave));
    public static readonly int KVM_GET_XCRS = Ior(0xa6, sizeof(kvm_xcrs));
    public static readonly int KVM_SET_XCRS = Iow(0xa7, sizeof(kvm_xcrs));
}

/// <summary>Constants from linux/kvm.h, named as there.</summary>
internal static class KvmConstants
{
    public const int KVM_API_VERSION = 12;

    public const int KVM_CAP_IRQCHIP = 0;
    public const int KVM_CAP_USER_MEMORY = 3;
    public const int KVM_CAP_SET_TSS_ADDR = 4;
    public const int KVM_CAP_EXT_CPUID = 7;
    public const int KVM_CAP_NR_VCPUS = 9;
    public const int KVM_CAP_NR_MEMSLOTS = 10;
    public const int KVM_CAP_MP_STATE = 14;
    public const int KVM_CAP_IRQ_ROUTING = 25;
    public const int KVM_CAP_IRQFD = 32;
    public const int KVM_CAP_PIT2 = 33;
    public const int KVM_CAP_IOEVENTFD = 36;
    public const int KVM_CAP_SET_IDENTITY_MAP_ADDR = 37;
    public const int KVM_CAP_VCPU_EVENTS = 41;
    public const int KVM_CAP_DEBUGREGS = 50;
    public const int KVM_CAP_XSAVE = 55;
    public const int KVM_CAP_XCRS = 56;
    public const int KVM_CAP_MAX_VCPUS = 66;
    public const int KVM_CAP_TSC_DEADLINE_TIMER = 72;
    public const int KVM_CAP_SIGNAL_MSI = 77;
    public const int KVM_CAP_READONLY_MEM = 81;
    public const int KVM_CAP_IMMEDIATE_EXIT = 136;

    public const uint KVM_MEM_LOG_DIRTY_PAGES = 1u << 0;
    public const uint KVM_MEM_READONLY = 1u << 1;

    public const uint KVM_EXIT_UNKNOWN = 0;
    public const uint KVM_EXIT_EXCEPTION = 1;
    public const uint KVM_EXIT_IO = 2;
    public const uint KVM_EXIT_HYPERCALL = 3;
    public const uint KVM_EXIT_DEBUG = 4;
    public const uint KVM_EXIT_HLT = 5;
    public const uint KVM_EXIT_MMIO = 6;
    public const uint KVM_EXIT_IRQ_WINDOW_OPEN = 7;
    public const uint KVM_EXIT_SHUTDOWN = 8;
    public const uint KVM_EXIT_FAIL_ENTRY = 9;
    public const uint KVM_EXIT_INTR = 10;
    public const uint KVM_EXIT_NMI = 16;
    public const uint KVM_EXIT_INTERNAL_ERROR = 17;
    public const uint KVM_EXIT_SYSTEM_EVENT = 24;
    public const uint KVM_EXIT_IOAPIC_EOI = 26;

    public const uint KVM_EXIT_IO_IN = 0;
    public const uint KVM_EXIT_IO_OUT = 1;

    public const uint KVM_INTERNAL_ERROR_EMULATION = 1;
    public const uint KVM_INTERNAL_ERROR_SIMUL_EX = 2;
    public const uint KVM_INTERNAL_ERROR_DELIVERY_EV = 3;
    public const uint KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;

    public const uint KVM_SYSTEM_EVENT_SHUTDOWN = 1;
    public const uint KVM_SYSTEM_EVENT_RESET = 2;
    public const uint KVM_SYSTEM_EVENT_CRASH = 3;

    public const uint KVM_MP_STATE_RUNNABLE = 0;
    public const uint KVM_MP_STATE_UNINITIALIZED = 1;
    public const uint KVM_MP_STATE_INIT_RECEIVED = 2;
    public const uint KVM_MP_STATE_HALTED = 3;
    public const uint KVM_MP_STATE_SIPI_RECEIVED = 4;

    public const uint KVM_VCPUEVENT_VALID_NMI_PENDING = 0x1;
    public const uint KVM_VCPUEVENT_VALID_SIPI_VECTOR = 0x2;
    public const uint KVM_VCPUEVENT_VALID_SHADOW = 0x4;

    public const uint KVM_IRQFD_FLAG_DEASSIGN = 1u << 0;
    public const uint KVM_IRQFD_FLAG_RESAMPLE = 1u << 1;

    public const uint KVM_IOEVENTFD_FLAG_DATAMATCH = 1u << 0;
    public const uint KVM_IOEVENTFD_FLAG_PIO = 1u << 1;
    public const uint KVM_IOEVENTFD_FLAG_DEASSIGN = 1u << 2;

    public const uint KVM_IRQ_ROUTING_IRQCHIP = 1;
    public const uint KVM_IRQ_ROUTING_MSI = 2;

    public const uint KVM_IRQCHIP_PIC_MASTER = 0;
    public const uint KVM_IRQCHIP_PIC_SLAVE = 1;
    public const uint KVM_IRQCHIP_IOAPIC = 2;

    public const uint KVM_PIT_SPEAKER_DUMMY = 1;
    public const int KVM_APIC_REG_SIZE = 0x400;
    public const int KVM_MAX_XCRS = 16;
}
