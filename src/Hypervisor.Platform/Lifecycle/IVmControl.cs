namespace Hypervisor.Platform.Lifecycle;

public enum VmStopReason
{
    /// <summary>ACPI S5 or another orderly power-off: hv exits 0.</summary>
    PowerOff,

    /// <summary>Keyboard-controller pulse, port 0x92/0xCF9, ACPI reset register, triple fault by policy.</summary>
    Reset,

    /// <summary>The guest wrote code v to isa-debug-exit: hv exits with (v &lt;&lt; 1) | 1.</summary>
    DebugExit,

    /// <summary>Something the VM cannot continue from (triple fault by policy, backend failure).</summary>
    Fatal,
}

public readonly record struct VmStopRequest(VmStopReason Reason, int ExitStatus, string? Message = null);

/// <summary>How a device asks the machine to power off, reset or exit. Safe to call from any thread.</summary>
public interface IVmControl
{
    void RequestStop(VmStopRequest request);
}
