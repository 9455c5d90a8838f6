using Hypervisor.Kvm.Native;
using static Hypervisor.Kvm.Native.KvmConstants;

namespace Hypervisor.Kvm;

/// <summary>One CPUID leaf/subleaf as given to a vCPU.</summary>
public readonly record struct CpuidEntry(uint Function, uint Index, uint Flags, uint Eax, uint Ebx, uint Ecx, uint Edx)
{
    internal static CpuidEntry FromNative(in kvm_cpuid_entry2 e) =>
        new(e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx);

    internal kvm_cpuid_entry2 ToNative() => new()
    {
        function = Function, index = Index, flags = Flags, eax = Eax, ebx = Ebx, ecx = Ecx, edx = Edx,
    };
}

/// <summary>
/// Builds a vCPU's CPUID from KVM_GET_SUPPORTED_CPUID (api.rst 4.46): the host features KVM can virtualize,
/// with the topology made per-vCPU (each vCPU is its own package, as QEMU's -smp N gives sockets) and the KVM
/// paravirtual leaves limited to features that need nothing from the VMM beyond saving their MSRs.
/// </summary>
internal static class KvmCpuid
{
    public const uint KvmSignatureLeaf = 0x4000_0000;
    public const uint KvmFeaturesLeaf = 0x4000_0001;

    // "KVMKVMKVM\0\0\0" in EBX, ECX, EDX (Documentation/virt/kvm/x86/cpuid.rst).
    private const uint SignatureEbx = 0x4B4D_564B, SignatureEcx = 0x564B_4D56, SignatureEdx = 0x0000_004D;

    /// <summary>
    /// KVM_FEATURE_* bits (x86/cpuid.rst) hv lets the guest see: CLOCKSOURCE(0), NOP_IO_DELAY(1),
    /// CLOCKSOURCE2(3), ASYNC_PF(4), STEAL_TIME(5), PV_EOI(6), PV_UNHALT(7), PV_TLB_FLUSH(9),
    /// ASYNC_PF_VMEXIT(10), PV_SEND_IPI(11), POLL_CONTROL(12), PV_SCHED_YIELD(13), ASYNC_PF_INT(14),
    /// CLOCKSOURCE_STABLE_BIT(24). Left out: MSI_EXT_DEST_ID(15) needs the VMM's MSI routing to decode extended
    /// destination IDs, HC_MAP_GPA_RANGE(16) exits to userspace, MIGRATION_CONTROL(17) is for SEV.
    /// </summary>
    public const uint AllowedPvFeatures =
        (1u << 0) | (1u << 1) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 9) |
        (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 24);

    private const uint HypervisorBit = 1u << 31;     // leaf 1 ECX: "running under a hypervisor"
    private const uint TscDeadlineBit = 1u << 24;    // leaf 1 ECX
    private const uint HttBit = 1u << 28;            // leaf 1 EDX
    private const uint CmpLegacyBit = 1u << 1;       // leaf 0x80000001 ECX (AMD)

    public static IReadOnlyList<CpuidEntry> ForVcpu(KvmHypervisor kvm, int apicId, int cpuCount)
    {
        bool tscDeadline = kvm.CheckExtension(KVM_CAP_TSC_DEADLINE_TIMER) > 0;
        var result = new List<CpuidEntry>();
        foreach (ref readonly var native in kvm.SupportedCpuid)
        {
            var e = CpuidEntry.FromNative(native);
            result.Add(Filter(e, (uint)apicId, tscDeadline));
        }
        if (!result.Any(e => e.Function == KvmSignatureLeaf))
            result.Add(new CpuidEntry(KvmSignatureLeaf, 0, 0, KvmFeaturesLeaf, SignatureEbx, SignatureEcx, SignatureEdx));
        return result;
    }

    internal static CpuidEntry Filter(CpuidEntry e, uint apicId, bool tscDeadline)
    {
        switch (e.Function)
        {
            case 1:
                // EBX[31:24] initial APIC ID, [23:16] logical processors per package (1: no SMT, no cores).
                uint ecx = e.Ecx | HypervisorBit;
                ecx = tscDeadline ? ecx | TscDeadlineBit : ecx & ~TscDeadlineBit;
                return e with
                {
                    Ebx = (e.Ebx & 0xFFFF) | (apicId << 24) | (1u << 16),
                    Ecx = ecx,
                    Edx = e.Edx & ~HttBit,
                };
            case 4:
                // EAX[31:26] cores per package - 1, [25:14] threads sharing this cache - 1: one of each.
                return e with { Eax = e.Eax & 0x3FFF };
            case 0xB:
            case 0x1F:
                // Extended topology: SMT level then core level, one logical CPU each; EDX is the x2APIC ID.
                return e.Index switch
                {
                    0 => e with { Eax = 0, Ebx = 1, Ecx = 0x100, Edx = apicId },
                    1 => e with { Eax = 0, Ebx = 1, Ecx = 0x201, Edx = apicId },
                    _ => e with { Eax = 0, Ebx = 0, Ecx = e.Index, Edx = apicId },
                };
            case 0x8000_0001:
                return e with { Ecx = e.Ecx & ~CmpLegacyBit };
            case 0x8000_0008:
                // ECX[7:0] cores per package - 1.
                return e with { Ecx = e.Ecx & ~0xFFu };
            case 0x8000_001E:
                // Extended APIC ID, compute unit 0, node 0.
                return e with { Eax = apicId, Ebx = 0, Ecx = 0 };
            case KvmSignatureLeaf:
                return e with { Eax = KvmFeaturesLeaf, Ebx = SignatureEbx, Ecx = SignatureEcx, Edx = SignatureEdx };
            case KvmFeaturesLeaf:
                // EDX holds hints (KVM_HINTS_REALTIME): a promise of dedicated host CPUs hv does not make.
                return e with { Eax = e.Eax & AllowedPvFeatures, Edx = 0 };
            default:
                return e;
        }
    }
}
