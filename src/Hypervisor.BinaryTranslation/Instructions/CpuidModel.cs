namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>
/// What CPUID reports: exactly the features this engine implements, so a guest never picks an instruction that
/// would #UD here. Feature bits are added as the instruction families land.
/// </summary>
public sealed class CpuidModel
{
    /// <summary>Leaf 0x40000000 vendor signature ("hv-bt-engine"), after the convention KVM and Xen use.</summary>
    public const string HypervisorSignature = "hv-bt-engine";

    public const string Vendor = "GenuineIntel";

    /// <summary>CPUID.1:EDX (Intel SDM Vol. 2A, Table 3-11): TSC, CX8, CMOV.</summary>
    public uint Leaf1Edx { get; set; } = 1u << 4 | 1u << 8 | 1u << 15;

    /// <summary>CPUID.1:ECX: CMPXCHG16B, and bit 31 "running under a hypervisor".</summary>
    public uint Leaf1Ecx { get; set; } = 1u << 13 | 1u << 31;

    /// <summary>CPUID.80000001h:EDX: long mode; ECX: LAHF/SAHF in 64-bit mode.</summary>
    public uint Ext1Edx { get; set; } = 1u << 29;

    public uint Ext1Ecx { get; set; } = 1u << 0;

    /// <summary>Family 6 model 15 stepping 11 (a Core 2 class part: no feature beyond what is listed).</summary>
    public uint Signature { get; set; } = 0x6FB;

    public (uint Eax, uint Ebx, uint Ecx, uint Edx) Query(uint leaf, uint subleaf, int apicId = 0)
    {
        switch (leaf)
        {
            case 0:
                return (1, Pack(Vendor, 0), Pack(Vendor, 8), Pack(Vendor, 4));
            case 1:
                // EBX: APIC ID in bits 31-24, one logical processor, CLFLUSH line size 8 * 8 bytes.
                return (Signature, (uint)apicId << 24 | 1u << 16 | 8u << 8, Leaf1Ecx, Leaf1Edx);
            case 0x4000_0000:
                return (0x4000_0000, Pack(HypervisorSignature, 0), Pack(HypervisorSignature, 4),
                    Pack(HypervisorSignature, 8));
            case 0x8000_0000:
                return (0x8000_0008, 0, 0, 0);
            case 0x8000_0001:
                return (0, 0, Ext1Ecx, Ext1Edx);
            case 0x8000_0002:
            case 0x8000_0003:
            case 0x8000_0004:
            {
                const string brand = "hv binary translation CPU                       ";
                int at = (int)(leaf - 0x8000_0002) * 16;
                return (Pack(brand, at), Pack(brand, at + 4), Pack(brand, at + 8), Pack(brand, at + 12));
            }
            case 0x8000_0008:
                // 48-bit linear, 40-bit physical addresses.
                return (48u << 8 | 40u, 0, 0, 0);
            default:
                // Intel returns the highest basic leaf's data for an out-of-range leaf; zeros are what KVM gives
                // for unknown leaves in range, and are safe either way.
                return (0, 0, 0, 0);
        }
    }

    private static uint Pack(string s, int at) =>
        (uint)(s[at] | s[at + 1] << 8 | s[at + 2] << 16 | s[at + 3] << 24);
}
