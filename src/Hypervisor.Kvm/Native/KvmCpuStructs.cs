using System.Runtime.InteropServices;

// Mirrors of the vCPU register structs in asm/kvm.h (x86). Field names are the C names so the layout test
// can check each one against the kernel header with offsetof.
namespace Hypervisor.Kvm.Native;

[CStruct("struct kvm_regs")]
[StructLayout(LayoutKind.Explicit, Size = 144)]
internal struct kvm_regs
{
    [FieldOffset(0)] public ulong rax;
    [FieldOffset(8)] public ulong rbx;
    [FieldOffset(16)] public ulong rcx;
    [FieldOffset(24)] public ulong rdx;
    [FieldOffset(32)] public ulong rsi;
    [FieldOffset(40)] public ulong rdi;
    [FieldOffset(48)] public ulong rsp;
    [FieldOffset(56)] public ulong rbp;
    [FieldOffset(64)] public ulong r8;
    [FieldOffset(72)] public ulong r9;
    [FieldOffset(80)] public ulong r10;
    [FieldOffset(88)] public ulong r11;
    [FieldOffset(96)] public ulong r12;
    [FieldOffset(104)] public ulong r13;
    [FieldOffset(112)] public ulong r14;
    [FieldOffset(120)] public ulong r15;
    [FieldOffset(128)] public ulong rip;
    [FieldOffset(136)] public ulong rflags;
}

[CStruct("struct kvm_segment")]
[StructLayout(LayoutKind.Explicit, Size = 24)]
internal struct kvm_segment
{
    [FieldOffset(0)] public ulong @base;
    [FieldOffset(8)] public uint limit;
    [FieldOffset(12)] public ushort selector;
    [FieldOffset(14)] public byte type;
    [FieldOffset(15)] public byte present;
    [FieldOffset(16)] public byte dpl;
    [FieldOffset(17)] public byte db;
    [FieldOffset(18)] public byte s;
    [FieldOffset(19)] public byte l;
    [FieldOffset(20)] public byte g;
    [FieldOffset(21)] public byte avl;
    [FieldOffset(22)] public byte unusable;
    [FieldOffset(23)] public byte padding;
}

[CStruct("struct kvm_dtable")]
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal unsafe struct kvm_dtable
{
    [FieldOffset(0)] public ulong @base;
    [FieldOffset(8)] public ushort limit;
    [FieldOffset(10)] public fixed ushort padding[3];
}

[CStruct("struct kvm_sregs")]
[StructLayout(LayoutKind.Explicit, Size = 312)]
internal unsafe struct kvm_sregs
{
    [FieldOffset(0)] public kvm_segment cs;
    [FieldOffset(24)] public kvm_segment ds;
    [FieldOffset(48)] public kvm_segment es;
    [FieldOffset(72)] public kvm_segment fs;
    [FieldOffset(96)] public kvm_segment gs;
    [FieldOffset(120)] public kvm_segment ss;
    [FieldOffset(144)] public kvm_segment tr;
    [FieldOffset(168)] public kvm_segment ldt;
    [FieldOffset(192)] public kvm_dtable gdt;
    [FieldOffset(208)] public kvm_dtable idt;
    [FieldOffset(224)] public ulong cr0;
    [FieldOffset(232)] public ulong cr2;
    [FieldOffset(240)] public ulong cr3;
    [FieldOffset(248)] public ulong cr4;
    [FieldOffset(256)] public ulong cr8;
    [FieldOffset(264)] public ulong efer;
    [FieldOffset(272)] public ulong apic_base;
    [FieldOffset(280)] public fixed ulong interrupt_bitmap[4];
}

[CStruct("struct kvm_fpu")]
[StructLayout(LayoutKind.Explicit, Size = 416)]
internal unsafe struct kvm_fpu
{
    [FieldOffset(0)] public fixed byte fpr[8 * 16];
    [FieldOffset(128)] public ushort fcw;
    [FieldOffset(130)] public ushort fsw;
    [FieldOffset(132)] public byte ftwx;
    [FieldOffset(133)] public byte pad1;
    [FieldOffset(134)] public ushort last_opcode;
    [FieldOffset(136)] public ulong last_ip;
    [FieldOffset(144)] public ulong last_dp;
    [FieldOffset(152)] public fixed byte xmm[16 * 16];
    [FieldOffset(408)] public uint mxcsr;
    [FieldOffset(412)] public uint pad2;
}

[CStruct("struct kvm_xsave")]
[StructLayout(LayoutKind.Explicit, Size = 4096)]
internal unsafe struct kvm_xsave
{
    [FieldOffset(0)] public fixed uint region[1024];
}

[CStruct("struct kvm_xcr")]
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal struct kvm_xcr
{
    [FieldOffset(0)] public uint xcr;
    [FieldOffset(4)] public uint reserved;
    [FieldOffset(8)] public ulong value;
}

[CStruct("struct kvm_xcrs")]
[StructLayout(LayoutKind.Explicit, Size = 392)]
internal unsafe struct kvm_xcrs
{
    [FieldOffset(0)] public uint nr_xcrs;
    [FieldOffset(4)] public uint flags;

    /// <summary>KVM_MAX_XCRS (16) kvm_xcr entries of 16 bytes; read them through <see cref="Xcr"/>.</summary>
    [FieldOffset(8)] public fixed byte xcrs[16 * 16];
    [FieldOffset(264)] public fixed ulong padding[16];

    public ref kvm_xcr Xcr(int i)
    {
        if ((uint)i >= KvmConstants.KVM_MAX_XCRS) throw new ArgumentOutOfRangeException(nameof(i));
        fixed (byte* p = xcrs) return ref ((kvm_xcr*)p)[i];
    }
}

[CStruct("struct kvm_debugregs")]
[StructLayout(LayoutKind.Explicit, Size = 128)]
internal unsafe struct kvm_debugregs
{
    [FieldOffset(0)] public fixed ulong db[4];
    [FieldOffset(32)] public ulong dr6;
    [FieldOffset(40)] public ulong dr7;
    [FieldOffset(48)] public ulong flags;
    [FieldOffset(56)] public fixed ulong reserved[9];
}

[CStruct("struct kvm_msr_entry")]
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal struct kvm_msr_entry
{
    [FieldOffset(0)] public uint index;
    [FieldOffset(4)] public uint reserved;
    [FieldOffset(8)] public ulong data;
}

/// <summary>Header of struct kvm_msrs; <c>nmsrs</c> kvm_msr_entry follow it.</summary>
[CStruct("struct kvm_msrs")]
[StructLayout(LayoutKind.Explicit, Size = 8)]
internal struct kvm_msrs
{
    [FieldOffset(0)] public uint nmsrs;
    [FieldOffset(4)] public uint pad;
}

/// <summary>Header of struct kvm_msr_list; <c>nmsrs</c> u32 indices follow it.</summary>
[CStruct("struct kvm_msr_list")]
[StructLayout(LayoutKind.Explicit, Size = 4)]
internal struct kvm_msr_list
{
    [FieldOffset(0)] public uint nmsrs;
}

[CStruct("struct kvm_cpuid_entry2")]
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal unsafe struct kvm_cpuid_entry2
{
    [FieldOffset(0)] public uint function;
    [FieldOffset(4)] public uint index;
    [FieldOffset(8)] public uint flags;
    [FieldOffset(12)] public uint eax;
    [FieldOffset(16)] public uint ebx;
    [FieldOffset(20)] public uint ecx;
    [FieldOffset(24)] public uint edx;
    [FieldOffset(28)] public fixed uint padding[3];
}

/// <summary>Header of struct kvm_cpuid2; <c>nent</c> kvm_cpuid_entry2 follow it.</summary>
[CStruct("struct kvm_cpuid2")]
[StructLayout(LayoutKind.Explicit, Size = 8)]
internal struct kvm_cpuid2
{
    [FieldOffset(0)] public uint nent;
    [FieldOffset(4)] public uint padding;
}

[CStruct("struct kvm_lapic_state")]
[StructLayout(LayoutKind.Explicit, Size = 1024)]
internal unsafe struct kvm_lapic_state
{
    [FieldOffset(0)] public fixed byte regs[KvmConstants.KVM_APIC_REG_SIZE];
}

[CStruct("struct kvm_mp_state")]
[StructLayout(LayoutKind.Explicit, Size = 4)]
internal struct kvm_mp_state
{
    [FieldOffset(0)] public uint mp_state;
}

[CStruct("struct kvm_vcpu_events")]
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal unsafe struct kvm_vcpu_events
{
    [FieldOffset(0), CField("exception.injected")] public byte exception_injected;
    [FieldOffset(1), CField("exception.nr")] public byte exception_nr;
    [FieldOffset(2), CField("exception.has_error_code")] public byte exception_has_error_code;
    [FieldOffset(3), CField("exception.pending")] public byte exception_pending;
    [FieldOffset(4), CField("exception.error_code")] public uint exception_error_code;
    [FieldOffset(8), CField("interrupt.injected")] public byte interrupt_injected;
    [FieldOffset(9), CField("interrupt.nr")] public byte interrupt_nr;
    [FieldOffset(10), CField("interrupt.soft")] public byte interrupt_soft;
    [FieldOffset(11), CField("interrupt.shadow")] public byte interrupt_shadow;
    [FieldOffset(12), CField("nmi.injected")] public byte nmi_injected;
    [FieldOffset(13), CField("nmi.pending")] public byte nmi_pending;
    [FieldOffset(14), CField("nmi.masked")] public byte nmi_masked;
    [FieldOffset(15), CField("nmi.pad")] public byte nmi_pad;
    [FieldOffset(16)] public uint sipi_vector;
    [FieldOffset(20)] public uint flags;
    [FieldOffset(24), CField("smi.smm")] public byte smi_smm;
    [FieldOffset(25), CField("smi.pending")] public byte smi_pending;
    [FieldOffset(26), CField("smi.smm_inside_nmi")] public byte smi_smm_inside_nmi;
    [FieldOffset(27), CField("smi.latched_init")] public byte smi_latched_init;
    [FieldOffset(28), CField("triple_fault.pending")] public byte triple_fault_pending;
    [FieldOffset(29)] public fixed byte reserved[26];
    [FieldOffset(55)] public byte exception_has_payload;
    [FieldOffset(56)] public ulong exception_payload;
}
