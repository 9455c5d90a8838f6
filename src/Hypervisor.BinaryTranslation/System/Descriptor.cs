using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// A segment or gate descriptor as it sits in the GDT, LDT or IDT (Intel SDM Vol. 3, 3.4.5 and 6.11/6.14.1).
/// <see cref="Low"/> is the legacy 8-byte descriptor; <see cref="High"/> is the upper half of a 16-byte system
/// descriptor in IA-32e mode (0 for 8-byte descriptors).
/// </summary>
public readonly struct Descriptor(ulong low, ulong high = 0)
{
    public readonly ulong Low = low;
    public readonly ulong High = high;

    public byte Type => (byte)((Low >> 40) & 0xF);

    /// <summary>S: a code or data segment (true) or a system segment/gate (false).</summary>
    public bool CodeOrData => ((Low >> 44) & 1) != 0;

    public int Dpl => (int)((Low >> 45) & 3);
    public bool Present => ((Low >> 47) & 1) != 0;
    public bool Long => ((Low >> 53) & 1) != 0;
    public bool DefaultBig => ((Low >> 54) & 1) != 0;

    public bool IsCode => CodeOrData && (Type & 8) != 0;
    public bool IsData => CodeOrData && (Type & 8) == 0;
    public bool IsConforming => IsCode && (Type & 4) != 0;

    /// <summary>Readable: every data segment, code segments with R = 1.</summary>
    public bool IsReadable => IsData || (IsCode && (Type & 2) != 0);

    public bool IsWritableData => IsData && (Type & 2) != 0;
    public bool IsExpandDown => IsData && (Type & 4) != 0;

    /// <summary>64-bit code segment: L = 1, D = 0 (Intel SDM Vol. 3, 5.2.1).</summary>
    public bool Is64BitCode => IsCode && Long && !DefaultBig;

    public uint Limit
    {
        get
        {
            uint limit = (uint)(Low & 0xFFFF) | (uint)((Low >> 32) & 0xF_0000);
            return ((Low >> 55) & 1) != 0 ? (limit << 12) | 0xFFF : limit;
        }
    }

    /// <summary>The base of a segment descriptor; 64-bit for a 16-byte system descriptor.</summary>
    public ulong Base => ((Low >> 16) & 0xFF_FFFF) | ((Low >> 32) & 0xFF00_0000) | ((High & 0xFFFF_FFFF) << 32);

    // ---- gates ----

    public ushort GateSelector => (ushort)(Low >> 16);

    /// <summary>The gate's entry point: 16 bits (286 gates), 32 bits, or 64 bits (IA-32e gates).</summary>
    public ulong GateOffset => (Low & 0xFFFF) | ((Low >> 32) & 0xFFFF_0000) | ((High & 0xFFFF_FFFF) << 32);

    /// <summary>Parameter count of a call gate (dwords or words to copy on a stack switch).</summary>
    public int ParameterCount => (int)((Low >> 32) & 0x1F);

    /// <summary>Interrupt stack table index of an IA-32e interrupt/trap gate (0: none).</summary>
    public int Ist => (int)((Low >> 32) & 7);

    /// <summary>The type field of the upper half of a 16-byte descriptor, which must be 0 (Intel SDM Vol. 3, 5.8.3.1).</summary>
    public int HighType => (int)((High >> 40) & 0x1F);

    /// <summary>The hidden part a segment register takes from this descriptor, in the KVM kvm_segment form.</summary>
    public SegmentRegister ToSegment(ushort selector)
    {
        var s = SegmentRegister.FromDescriptor(selector, Low);
        s.Base = Base;
        return s;
    }
}

/// <summary>System-segment and gate types (Intel SDM Vol. 3, Table 3-2; IA-32e reuses the 32-bit numbers for 64-bit forms).</summary>
public static class SystemType
{
    public const byte Tss16Available = 1;
    public const byte Ldt = 2;
    public const byte Tss16Busy = 3;
    public const byte CallGate16 = 4;
    public const byte TaskGate = 5;
    public const byte InterruptGate16 = 6;
    public const byte TrapGate16 = 7;
    public const byte Tss32Available = 9;
    public const byte Tss32Busy = 11;
    public const byte CallGate32 = 12;
    public const byte InterruptGate32 = 14;
    public const byte TrapGate32 = 15;
}
