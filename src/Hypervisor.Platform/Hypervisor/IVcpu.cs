using Hypervisor.Platform.Cpu;

namespace Hypervisor.Platform.Hypervisor;

/// <summary>
/// One virtual CPU, driven by its own thread. Port and MMIO accesses are answered inside <see cref="Run"/>
/// through the VM's I/O handler; only lifecycle events leave it.
/// </summary>
public interface IVcpu : IDisposable
{
    int Index { get; }

    /// <summary>Runs the guest until something only the machine can decide.</summary>
    VcpuExit Run();

    /// <summary>Makes a <see cref="Run"/> in progress on another thread return <see cref="VcpuExitReason.Kicked"/> soon.</summary>
    void Kick();

    CpuState GetState();

    void SetState(CpuState state);
}

public enum VcpuExitReason
{
    /// <summary><see cref="IVcpu.Kick"/> was called (pause, stop, or a device asked the machine to stop).</summary>
    Kicked,

    /// <summary>HLT with interrupts disabled and nothing that can wake it (the guest is dead).</summary>
    Halted,

    /// <summary>Triple fault / shutdown condition.</summary>
    Shutdown,

    /// <summary>The guest requested a system reset.</summary>
    Reset,

    /// <summary>The guest requested power-off (KVM_SYSTEM_EVENT_SHUTDOWN).</summary>
    PowerOff,

    /// <summary>The backend cannot continue (entry failure, emulation failure); <see cref="VcpuExit.Message"/> says why.</summary>
    InternalError,
}

public readonly record struct VcpuExit(VcpuExitReason Reason, string? Message = null);
