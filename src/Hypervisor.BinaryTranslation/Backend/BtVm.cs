using Hypervisor.BinaryTranslation.Memory;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Interrupts;

namespace Hypervisor.BinaryTranslation.Backend;

/// <summary>
/// One VM on the BT backend: a single guest-physical <see cref="AddressSpace"/> over the VM's memory and I/O
/// handler, shared by all vCPUs, and the <see cref="ExecutionLock"/> under which they take turns.
/// </summary>
public sealed class BtVm : IVm
{
    private readonly BtVcpu?[] _vcpus;
    private readonly BtProfiler? _profiler;

    internal BtVm(VmSetup setup, BtOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(setup.CpuCount);
        IrqChip = setup.UserspaceIrqChip ?? throw new ArgumentException(
            "the BT backend emulates no interrupt controller: VmSetup.UserspaceIrqChip must be the machine's", nameof(setup));
        if (IrqChip.VcpuCount < setup.CpuCount)
            throw new ArgumentException($"the irqchip has {IrqChip.VcpuCount} local APICs for {setup.CpuCount} vCPUs", nameof(setup));
        Setup = setup;
        Options = options;
        Memory = new AddressSpace(setup.Memory, setup.Io);
        _vcpus = new BtVcpu?[setup.CpuCount];
        // Every vCPU's TLB maps through the old A20 mask: each flushes at its next block boundary.
        Memory.A20Changed += () =>
        {
            foreach (var v in _vcpus) v?.RequestInterruptCheck();
        };
        if (options.Profile is { } profile)
            _profiler = new BtProfiler(() => _vcpus, profile == "1" ? null : profile, options.TraceWriter ?? Console.Error);
    }

    public VmSetup Setup { get; }
    public BtOptions Options { get; }
    public AddressSpace Memory { get; }
    public IUserspaceIrqChip IrqChip { get; }
    public ExecutionLock ExecutionLock { get; } = new();

    public IInterruptController Interrupts => IrqChip;

    /// <summary>The PC's A20 gate (port 92h, the 8042's output port): physical address bit 20 is forced to 0 while off.</summary>
    public bool A20Enabled
    {
        get => Memory.A20Enabled;
        set => Memory.A20Enabled = value;
    }

    public IVcpu CreateVcpu(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _vcpus.Length);
        lock (_vcpus)
        {
            if (_vcpus[index] != null) throw new InvalidOperationException($"vCPU {index} already exists");
            return _vcpus[index] = new BtVcpu(this, index);
        }
    }

    /// <summary>
    /// Whether a vCPU halted with interrupts disabled can still be woken: only by another CPU's NMI, INIT or
    /// SIPI, so only while some other vCPU runs (is neither in such a halt nor waiting for SIPI itself).
    /// </summary>
    internal bool AnotherVcpuCanWake(int index)
    {
        lock (_vcpus)
        {
            for (int i = 0; i < _vcpus.Length; i++)
            {
                if (i == index || _vcpus[i] is not { } other) continue;
                if (!other.IsHaltedWithInterruptsDisabled && !IrqChip.PortFor(i).IsWaitingForSipi) return true;
            }
            return false;
        }
    }

    public void Dispose() => _profiler?.Dispose();
}
