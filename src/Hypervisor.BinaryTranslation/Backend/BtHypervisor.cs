using Hypervisor.Platform.Hypervisor;

namespace Hypervisor.BinaryTranslation.Backend;

/// <summary>
/// The binary-translation backend: every vCPU is this engine's interpreter over the VM's memory, with the
/// machine's userspace PIC, IOAPIC and LAPICs as its interrupt system. It runs on any host, without /dev/kvm.
/// </summary>
public sealed class BtHypervisor : IHypervisor
{
    public string Name => "bt";

    /// <summary>BT emulates no interrupt controller itself: the machine supplies its userspace irqchip.</summary>
    public bool HasInKernelIrqChip => false;

    /// <summary>Options for every VM this backend creates (tracing, slice length).</summary>
    public BtOptions Options { get; init; } = BtOptions.FromEnvironment();

    public IVm CreateVm(VmSetup setup) => new BtVm(setup, Options);

    public void Dispose()
    {
    }
}
