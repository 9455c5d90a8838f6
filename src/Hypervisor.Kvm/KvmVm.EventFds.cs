using Hypervisor.Kvm.Native;
using Hypervisor.Platform;
using System.Runtime.InteropServices;
using static Hypervisor.Kvm.Native.KvmConstants;

namespace Hypervisor.Kvm;

public sealed unsafe partial class KvmVm
{
    /// <summary>GSIs 0-23 are the IOAPIC pins (0-15 also the PICs'); MSI routes are numbered after them.</summary>
    private const int IoapicPins = 24;

    private readonly object _routingLock = new();
    private readonly SortedDictionary<int, (ulong Address, uint Data)> _msiRoutes = [];
    private readonly List<KvmIrqFd> _irqFds = [];
    private readonly List<KvmIoEventFd> _ioEventFds = [];

    /// <summary>
    /// KVM_SET_GSI_ROUTING replaces the whole table (api.rst 4.52): the ISA/IOAPIC routes are written once at
    /// creation (KVM's default_routing sends GSI 0 to IOAPIC pin 0, which disagrees with hv's MADT) and rebuilt with
    /// every MSI change.
    /// </summary>
    private void InitializeRouting() => CommitRouting();

    private void CommitRouting()
    {
        var entries = new List<kvm_irq_routing_entry>();
        for (uint gsi = 0; gsi < IoapicPins; gsi++)
        {
            if (gsi < 16)
                entries.Add(new kvm_irq_routing_entry
                {
                    gsi = gsi, type = KVM_IRQ_ROUTING_IRQCHIP,
                    irqchip_irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                    irqchip_pin = gsi & 7,
                });
            // ISA IRQ 0 (the in-kernel PIT raises GSI 0) reaches IOAPIC pin 2, as the MADT's interrupt source
            // override says (PcPlatform.PitGsi) and QEMU routes it (kvm_pc_setup_irq_routing); pin 2 itself has no
            // ISA source, because IRQ 2 is the PICs' cascade.
            if (gsi == PcPlatform.PitGsi) continue;
            entries.Add(new kvm_irq_routing_entry
            {
                gsi = gsi, type = KVM_IRQ_ROUTING_IRQCHIP, irqchip_irqchip = KVM_IRQCHIP_IOAPIC,
                irqchip_pin = gsi == PcPlatform.PitIrq ? PcPlatform.PitGsi : gsi,
            });
        }
        foreach (var (gsi, msi) in _msiRoutes)
            entries.Add(new kvm_irq_routing_entry
            {
                gsi = (uint)gsi, type = KVM_IRQ_ROUTING_MSI,
                msi_address_lo = (uint)msi.Address, msi_address_hi = (uint)(msi.Address >> 32), msi_data = msi.Data,
            });

        int bytes = sizeof(kvm_irq_routing) + entries.Count * sizeof(kvm_irq_routing_entry);
        var table = (kvm_irq_routing*)NativeMemory.AllocZeroed((nuint)bytes);
        try
        {
            table->nr = (uint)entries.Count;
            CollectionsMarshal.AsSpan(entries).CopyTo(new Span<kvm_irq_routing_entry>(table + 1, entries.Count));
            KvmNative.Ioctl(Fd, KvmIoctls.KVM_SET_GSI_ROUTING, table, "KVM_SET_GSI_ROUTING");
        }
        finally
        {
            NativeMemory.Free(table);
        }
    }

    public int AddMsiRoute(ulong address, uint data)
    {
        lock (_routingLock)
        {
            int gsi = IoapicPins;
            while (_msiRoutes.ContainsKey(gsi)) gsi++;
            _msiRoutes[gsi] = (address, data);
            try
            {
                CommitRouting();
            }
            catch
            {
                _msiRoutes.Remove(gsi);
                throw;
            }
            return gsi;
        }
    }

    public void UpdateMsiRoute(int gsi, ulong address, uint data)
    {
        lock (_routingLock)
        {
            if (!_msiRoutes.ContainsKey(gsi)) throw new ArgumentException($"GSI {gsi} is not an MSI route");
            _msiRoutes[gsi] = (address, data);
            CommitRouting();
        }
    }

    public void RemoveMsiRoute(int gsi)
    {
        lock (_routingLock)
        {
            if (_msiRoutes.Remove(gsi)) CommitRouting();
        }
    }

    public KvmIrqFd CreateIrqFd(int gsi) => AttachIrqFd(gsi, level: false);

    public KvmIrqFd CreateLevelIrqFd(int gsi) => AttachIrqFd(gsi, level: true);

    private KvmIrqFd AttachIrqFd(int gsi, bool level)
    {
        if (gsi < 0) throw new ArgumentOutOfRangeException(nameof(gsi));
        var ev = new EventFd();
        var resample = level ? new EventFd() : null;
        try
        {
            var irqfd = new kvm_irqfd
            {
                fd = (uint)ev.Fd, gsi = (uint)gsi,
                flags = level ? KVM_IRQFD_FLAG_RESAMPLE : 0,
                resamplefd = level ? (uint)resample!.Fd : 0,
            };
            KvmNative.Ioctl(Fd, KvmIoctls.KVM_IRQFD, ref irqfd, $"KVM_IRQFD gsi {gsi}");
        }
        catch
        {
            ev.Dispose();
            resample?.Dispose();
            throw;
        }
        var result = new KvmIrqFd(gsi, ev, resample, DetachIrqFd);
        lock (_irqFds) _irqFds.Add(result);
        return result;
    }

    private void DetachIrqFd(KvmIrqFd irqFd)
    {
        lock (_irqFds) _irqFds.Remove(irqFd);
        if (_fd < 0) return;
        var irqfd = new kvm_irqfd { fd = (uint)irqFd.Event.Fd, gsi = (uint)irqFd.Gsi, flags = KVM_IRQFD_FLAG_DEASSIGN };
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_IRQFD, ref irqfd, $"KVM_IRQFD deassign gsi {irqFd.Gsi}");
    }

    public KvmIoEventFd CreateIoEventFd(ulong address, int length, bool isPort, ulong? dataMatch = null)
    {
        if (length is not (1 or 2 or 4 or 8))
            throw new ArgumentException($"ioeventfd length {length}: must be 1, 2, 4 or 8", nameof(length));
        var ev = new EventFd();
        var result = new KvmIoEventFd(address, length, isPort, dataMatch, ev, DetachIoEventFd);
        try
        {
            var desc = Describe(result, assign: true);
            KvmNative.Ioctl(Fd, KvmIoctls.KVM_IOEVENTFD, ref desc,
                $"KVM_IOEVENTFD {(isPort ? "port" : "mmio")} 0x{address:x}");
        }
        catch
        {
            ev.Dispose();
            throw;
        }
        lock (_ioEventFds) _ioEventFds.Add(result);
        return result;
    }

    private static kvm_ioeventfd Describe(KvmIoEventFd e, bool assign)
    {
        uint flags = 0;
        if (e.IsPort) flags |= KVM_IOEVENTFD_FLAG_PIO;
        if (e.DataMatch.HasValue) flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        if (!assign) flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        return new kvm_ioeventfd
        {
            addr = e.Address, len = (uint)e.Length, fd = e.Event.Fd, flags = flags,
            datamatch = e.DataMatch ?? 0,
        };
    }

    private void DetachIoEventFd(KvmIoEventFd e)
    {
        lock (_ioEventFds) _ioEventFds.Remove(e);
        if (_fd < 0) return;
        var desc = Describe(e, assign: false);
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_IOEVENTFD, ref desc, $"KVM_IOEVENTFD deassign 0x{e.Address:x}");
    }

    private void DisposeEventFds()
    {
        KvmIrqFd[] irqFds;
        KvmIoEventFd[] ioEventFds;
        lock (_irqFds) irqFds = [.. _irqFds];
        lock (_ioEventFds) ioEventFds = [.. _ioEventFds];
        foreach (var f in irqFds) f.Dispose();
        foreach (var f in ioEventFds) f.Dispose();
    }
}
