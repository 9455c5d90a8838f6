using System.Runtime.InteropServices;

// Mirrors of the VM-level structs in linux/kvm.h; field names are the C names (see KvmCpuStructs.cs).
namespace Hypervisor.Kvm.Native;

[CStruct("struct kvm_userspace_memory_region")]
[StructLayout(LayoutKind.Explicit, Size = 32)]
internal struct kvm_userspace_memory_region
{
    [FieldOffset(0)] public uint slot;
    [FieldOffset(4)] public uint flags;
    [FieldOffset(8)] public ulong guest_phys_addr;
    [FieldOffset(16)] public ulong memory_size;
    [FieldOffset(24)] public ulong userspace_addr;
}

[CStruct("struct kvm_irq_level")]
[StructLayout(LayoutKind.Explicit, Size = 8)]
internal struct kvm_irq_level
{
    [FieldOffset(0)] public uint irq;
    [FieldOffset(4)] public uint level;
}

[CStruct("struct kvm_msi")]
[StructLayout(LayoutKind.Explicit, Size = 32)]
internal unsafe struct kvm_msi
{
    [FieldOffset(0)] public uint address_lo;
    [FieldOffset(4)] public uint address_hi;
    [FieldOffset(8)] public uint data;
    [FieldOffset(12)] public uint flags;
    [FieldOffset(16)] public uint devid;
    [FieldOffset(20)] public fixed byte pad[12];
}

[CStruct("struct kvm_irqfd")]
[StructLayout(LayoutKind.Explicit, Size = 32)]
internal unsafe struct kvm_irqfd
{
    [FieldOffset(0)] public uint fd;
    [FieldOffset(4)] public uint gsi;
    [FieldOffset(8)] public uint flags;
    [FieldOffset(12)] public uint resamplefd;
    [FieldOffset(16)] public fixed byte pad[16];
}

[CStruct("struct kvm_ioeventfd")]
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal unsafe struct kvm_ioeventfd
{
    [FieldOffset(0)] public ulong datamatch;
    [FieldOffset(8)] public ulong addr;
    [FieldOffset(16)] public uint len;
    [FieldOffset(20)] public int fd;
    [FieldOffset(24)] public uint flags;
    [FieldOffset(28)] public fixed byte pad[36];
}

[CStruct("struct kvm_dirty_log")]
[StructLayout(LayoutKind.Explicit, Size = 16)]
internal unsafe struct kvm_dirty_log
{
    [FieldOffset(0)] public uint slot;
    [FieldOffset(4)] public uint padding1;
    [FieldOffset(8)] public void* dirty_bitmap;
}

[CStruct("struct kvm_pit_config")]
[StructLayout(LayoutKind.Explicit, Size = 64)]
internal unsafe struct kvm_pit_config
{
    [FieldOffset(0)] public uint flags;
    [FieldOffset(4)] public fixed uint pad[15];
}

/// <summary>Header of struct kvm_signal_mask; <c>len</c> bytes of kernel sigset follow it.</summary>
[CStruct("struct kvm_signal_mask")]
[StructLayout(LayoutKind.Explicit, Size = 4)]
internal struct kvm_signal_mask
{
    [FieldOffset(0)] public uint len;
}

[CStruct("struct kvm_irq_routing_entry")]
[StructLayout(LayoutKind.Explicit, Size = 48)]
internal unsafe struct kvm_irq_routing_entry
{
    [FieldOffset(0)] public uint gsi;
    [FieldOffset(4)] public uint type;
    [FieldOffset(8)] public uint flags;
    [FieldOffset(12)] public uint pad;

    [FieldOffset(16), CField("u.irqchip.irqchip")] public uint irqchip_irqchip;
    [FieldOffset(20), CField("u.irqchip.pin")] public uint irqchip_pin;

    [FieldOffset(16), CField("u.msi.address_lo")] public uint msi_address_lo;
    [FieldOffset(20), CField("u.msi.address_hi")] public uint msi_address_hi;
    [FieldOffset(24), CField("u.msi.data")] public uint msi_data;
    [FieldOffset(28), CField("u.msi.devid")] public uint msi_devid;

    [FieldOffset(16), CField("u.pad")] public fixed uint u_pad[8];
}

/// <summary>Header of struct kvm_irq_routing; <c>nr</c> kvm_irq_routing_entry follow it.</summary>
[CStruct("struct kvm_irq_routing")]
[StructLayout(LayoutKind.Explicit, Size = 8)]
internal struct kvm_irq_routing
{
    [FieldOffset(0)] public uint nr;
    [FieldOffset(4)] public uint flags;
}
