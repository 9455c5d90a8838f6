namespace Hypervisor.Kvm;

/// <summary>
/// The MSRs a vCPU's state includes besides those in kvm_sregs (EFER, APIC base). Each is saved only when
/// KVM lists it (KVM_GET_MSR_INDEX_LIST) and reads it back on this vCPU.
/// </summary>
public static class KvmMsrs
{
    public const uint Tsc = 0x10;
    public const uint TscAdjust = 0x3B;
    public const uint SpecCtrl = 0x48;
    public const uint SysenterCs = 0x174, SysenterEsp = 0x175, SysenterEip = 0x176;
    public const uint MiscEnable = 0x1A0;
    public const uint Pat = 0x277;

    /// <summary>IA32_TSC_DEADLINE: written after the LAPIC, because KVM ignores it unless LVTT is in deadline mode.</summary>
    public const uint TscDeadline = 0x6E0;

    public const uint Star = 0xC000_0081, Lstar = 0xC000_0082, Cstar = 0xC000_0083, Sfmask = 0xC000_0084;
    public const uint KernelGsBase = 0xC000_0102;
    public const uint TscAux = 0xC000_0103;

    // KVM paravirtual MSRs (Documentation/virt/kvm/x86/msr.rst).
    public const uint KvmWallClock = 0x11, KvmSystemTime = 0x12;
    public const uint KvmWallClockNew = 0x4B56_4D00, KvmSystemTimeNew = 0x4B56_4D01;
    public const uint KvmAsyncPfEn = 0x4B56_4D02, KvmStealTime = 0x4B56_4D03, KvmPvEoiEn = 0x4B56_4D04;
    public const uint KvmPollControl = 0x4B56_4D05, KvmAsyncPfInt = 0x4B56_4D06, KvmAsyncPfAck = 0x4B56_4D07;

    public static IReadOnlyList<uint> Wanted { get; } =
    [
        Tsc, TscAdjust, SpecCtrl, SysenterCs, SysenterEsp, SysenterEip, MiscEnable, Pat,
        Star, Lstar, Cstar, Sfmask, KernelGsBase, TscAux,
        KvmWallClock, KvmSystemTime, KvmWallClockNew, KvmSystemTimeNew, KvmAsyncPfEn, KvmStealTime, KvmPvEoiEn,
        KvmPollControl, KvmAsyncPfInt, KvmAsyncPfAck,
        TscDeadline,
    ];
}
