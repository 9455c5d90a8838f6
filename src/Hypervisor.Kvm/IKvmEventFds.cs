namespace Hypervisor.Kvm;

/// <summary>
/// KVM's kernel-side notification paths (api.rst 4.75 KVM_IRQFD, 4.59 KVM_IOEVENTFD, 4.52 KVM_SET_GSI_ROUTING):
/// an interrupt raised by writing an eventfd and a guest write that only signals an eventfd, neither of which
/// wakes the vCPU thread's userspace. Virtio queue notifications and MSI-X vectors are what they are for.
/// A <see cref="KvmVm"/> implements it; the machine hands the objects to devices as plain eventfds.
/// </summary>
public interface IKvmEventFds
{
    /// <summary>An eventfd that raises GSI <paramref name="gsi"/> as an edge each time it is written.</summary>
    KvmIrqFd CreateIrqFd(int gsi);

    /// <summary>
    /// An eventfd that asserts level-triggered GSI <paramref name="gsi"/>; KVM deasserts it and signals
    /// <see cref="KvmIrqFd.Resample"/> when the guest EOIs it, so the device can re-raise if still pending.
    /// </summary>
    KvmIrqFd CreateLevelIrqFd(int gsi);

    /// <summary>Routes a new GSI to an MSI message; combine with <see cref="CreateIrqFd"/> for an MSI-X vector.</summary>
    int AddMsiRoute(ulong address, uint data);

    /// <summary>Changes the message of an MSI route (the guest reprogrammed the vector).</summary>
    void UpdateMsiRoute(int gsi, ulong address, uint data);

    void RemoveMsiRoute(int gsi);

    /// <summary>
    /// An eventfd KVM signals when the guest writes <paramref name="length"/> bytes (1, 2, 4 or 8) at
    /// <paramref name="address"/> (a port when <paramref name="isPort"/>), optionally only for the value
    /// <paramref name="dataMatch"/>. The write never reaches the <c>IIoHandler</c>.
    /// </summary>
    KvmIoEventFd CreateIoEventFd(ulong address, int length, bool isPort, ulong? dataMatch = null);
}
