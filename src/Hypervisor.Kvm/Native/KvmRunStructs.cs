using System.Runtime.InteropServices;

// struct kvm_run, the page KVM shares with the vCPU thread (linux/kvm.h), with the union members hv reads.
namespace Hypervisor.Kvm.Native;

[CStruct("struct kvm_run")]
[StructLayout(LayoutKind.Explicit, Size = 2352)]
internal struct kvm_run
{
    [FieldOffset(0)] public byte request_interrupt_window;
    [FieldOffset(1)] public byte immediate_exit;
    [FieldOffset(8)] public uint exit_reason;
    [FieldOffset(12)] public byte ready_for_interrupt_injection;
    [FieldOffset(13)] public byte if_flag;
    [FieldOffset(14)] public ushort flags;
    [FieldOffset(16)] public ulong cr8;
    [FieldOffset(24)] public ulong apic_base;

    [FieldOffset(32)] public kvm_run_hw hw;
    [FieldOffset(32)] public kvm_run_fail_entry fail_entry;
    [FieldOffset(32)] public kvm_run_ex ex;
    [FieldOffset(32)] public kvm_run_io io;
    [FieldOffset(32)] public kvm_run_mmio mmio;
    [FieldOffset(32)] public kvm_run_internal @internal;
    [FieldOffset(32)] public kvm_run_system_event system_event;

    [FieldOffset(288)] public ulong kvm_valid_regs;
    [FieldOffset(296)] public ulong kvm_dirty_regs;
}

[CStruct("__typeof__(((struct kvm_run*)0)->hw)")]
[StructLayout(LayoutKind.Explicit, Size = 8)]
internal struct kvm_run_hw
{
    [FieldOffset(0)] public ulong hardware_exit_reason;
}

[CStruct("__typeof__(((struct kvm_run*)0)->fail_entry)")]
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal struct kvm_run_fail_entry
{
    [FieldOffset(0)] public ulong hardware_entry_failure_reason;
    [FieldOffset(8)] public uint cpu;
}

[CStruct("__typeof__(((struct kvm_run*)0)->ex)")]
[StructLayout(LayoutKind.Explicit, Size = 8)]
internal struct kvm_run_ex
{
    [FieldOffset(0)] public uint exception;
    [FieldOffset(4)] public uint error_code;
}

[CStruct("__typeof__(((struct kvm_run*)0)->io)")]
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal struct kvm_run_io
{
    [FieldOffset(0)] public byte direction;
    [FieldOffset(1)] public byte size;
    [FieldOffset(2)] public ushort port;
    [FieldOffset(4)] public uint count;
    [FieldOffset(8)] public ulong data_offset;
}

[CStruct("__typeof__(((struct kvm_run*)0)->mmio)")]
[StructLayout(LayoutKind.Explicit, Size = 24)]
internal unsafe struct kvm_run_mmio
{
    [FieldOffset(0)] public ulong phys_addr;
    [FieldOffset(8)] public fixed byte data[8];
    [FieldOffset(16)] public uint len;
    [FieldOffset(20)] public byte is_write;
}

[CStruct("__typeof__(((struct kvm_run*)0)->internal)")]
[StructLayout(LayoutKind.Explicit, Size = 136)]
internal unsafe struct kvm_run_internal
{
    [FieldOffset(0)] public uint suberror;
    [FieldOffset(4)] public uint ndata;
    [FieldOffset(8)] public fixed ulong data[16];
}

[CStruct("__typeof__(((struct kvm_run*)0)->system_event)")]
[StructLayout(LayoutKind.Explicit, Size = 136)]
internal unsafe struct kvm_run_system_event
{
    [FieldOffset(0)] public uint type;
    [FieldOffset(4)] public uint ndata;
    [FieldOffset(8)] public fixed ulong data[16];
}
