using Hypervisor.Kvm.Native;
using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Native;
using Tmds.Linux;

namespace Hypervisor.Kvm;

/// <summary>Device interrupts into KVM's in-kernel PIC/IOAPIC (KVM_IRQ_LINE) and LAPICs (KVM_SIGNAL_MSI).</summary>
internal sealed unsafe class KvmInterruptController(KvmVm vm) : IInterruptController
{
    public void SetIrq(int gsi, bool level)
    {
        if (gsi < 0) throw new ArgumentOutOfRangeException(nameof(gsi));
        var line = new kvm_irq_level { irq = (uint)gsi, level = level ? 1u : 0u };
        KvmNative.Ioctl(vm.Fd, KvmIoctls.KVM_IRQ_LINE, ref line, $"KVM_IRQ_LINE gsi {gsi}");
    }

    public void SendMsi(ulong address, uint data)
    {
        var msi = new kvm_msi { address_lo = (uint)address, address_hi = (uint)(address >> 32), data = data };
        // api.rst 4.71: > 0 delivered, 0 blocked by the guest (masked), < 0 error. A masked MSI is not an error.
        if (LibC.ioctl(vm.Fd, KvmIoctls.KVM_SIGNAL_MSI, &msi) < 0)
            throw LinuxError.Exception($"KVM_SIGNAL_MSI address 0x{address:x} data 0x{data:x}");
    }
}
