namespace Hypervisor.Platform.Cpu;

/// <summary>
/// A segment register with its hidden (descriptor cache) part, in the unpacked form KVM's kvm_segment uses.
/// </summary>
public struct SegmentRegister
{
    public ushort Selector;
    public ulong Base;

    /// <summary>Byte-granular limit (already scaled when G=1).</summary>
    public uint Limit;

    /// <summary>Descriptor type field (bits 8-11 of the descriptor's high dword).</summary>
    public byte Type;

    /// <summary>S: code/data (true) or system (false) descriptor.</summary>
    public bool CodeOrData;

    public byte Dpl;
    public bool Present;
    public bool Available;

    /// <summary>L: 64-bit code segment.</summary>
    public bool Long;

    /// <summary>D/B: 32-bit default operand size / stack size.</summary>
    public bool DefaultBig;

    public bool Granularity;

    /// <summary>The register holds a null selector / unusable descriptor (VMX "unusable").</summary>
    public bool Unusable;

    /// <summary>A real-mode style segment: base = selector * 16, 64 KiB limit, read/write (data) or execute (code).</summary>
    public static SegmentRegister RealMode(ushort selector, bool code) => new()
    {
        Selector = selector,
        Base = (ulong)selector << 4,
        Limit = 0xFFFF,
        Type = code ? (byte)0xB : (byte)0x3,
        CodeOrData = true,
        Present = true,
    };

    /// <summary>A flat 4 GiB segment for protected or long mode entry.</summary>
    public static SegmentRegister Flat(ushort selector, bool code, bool longMode = false) => new()
    {
        Selector = selector,
        Base = 0,
        Limit = 0xFFFF_FFFF,
        Type = code ? (byte)0xB : (byte)0x3,
        CodeOrData = true,
        Present = true,
        Long = code && longMode,
        DefaultBig = !(code && longMode),
        Granularity = true,
    };

    /// <summary>Unpacks an 8-byte GDT/LDT descriptor (the caller supplies the selector).</summary>
    public static SegmentRegister FromDescriptor(ushort selector, ulong descriptor)
    {
        uint limit = (uint)(descriptor & 0xFFFF) | (uint)((descriptor >> 32) & 0xF_0000);
        bool g = ((descriptor >> 55) & 1) != 0;
        if (g) limit = (limit << 12) | 0xFFF;
        return new SegmentRegister
        {
            Selector = selector,
            Base = ((descriptor >> 16) & 0xFF_FFFF) | ((descriptor >> 32) & 0xFF00_0000),
            Limit = limit,
            Type = (byte)((descriptor >> 40) & 0xF),
            CodeOrData = ((descriptor >> 44) & 1) != 0,
            Dpl = (byte)((descriptor >> 45) & 3),
            Present = ((descriptor >> 47) & 1) != 0,
            Available = ((descriptor >> 52) & 1) != 0,
            Long = ((descriptor >> 53) & 1) != 0,
            DefaultBig = ((descriptor >> 54) & 1) != 0,
            Granularity = g,
        };
    }
}

/// <summary>GDTR or IDTR.</summary>
public struct DescriptorTableRegister
{
    public ulong Base;
    public ushort Limit;
}
