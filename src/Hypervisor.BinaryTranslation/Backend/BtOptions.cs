namespace Hypervisor.BinaryTranslation.Backend;

/// <summary>What the BT backend logs and how it schedules vCPUs.</summary>
public sealed record BtOptions
{
    /// <summary>
    /// Guest instructions a vCPU runs before it offers the execution lock to a waiting vCPU. Around a
    /// millisecond of guest time at interpreter speed: short enough for IPIs and spinlocks to make progress,
    /// long enough that hand-offs cost nothing measurable.
    /// </summary>
    public long SliceInstructions { get; init; } = 200_000;

    /// <summary>Events to log (HV_BT_TRACE: a comma-separated list of exc, int, halt, all).</summary>
    public BtTraceEvents Trace { get; init; }

    /// <summary>Where traces go; standard error when null.</summary>
    public TextWriter? TraceWriter { get; init; }

    /// <summary>
    /// HV_BT_PROFILE: "1" samples where guest time goes and prints the hottest code pages when the VM ends; a
    /// path to the guest kernel's System.map names functions instead (boot it with nokaslr).
    /// </summary>
    public string? Profile { get; init; }

    /// <summary>Reads HV_BT_TRACE (for example <c>HV_BT_TRACE=exc,int</c>) and HV_BT_PROFILE.</summary>
    public static BtOptions FromEnvironment() => new()
    {
        Trace = BtTrace.Parse(Environment.GetEnvironmentVariable("HV_BT_TRACE")),
        Profile = Environment.GetEnvironmentVariable("HV_BT_PROFILE") is { Length: > 0 } p && p != "0" ? p : null,
    };
}
