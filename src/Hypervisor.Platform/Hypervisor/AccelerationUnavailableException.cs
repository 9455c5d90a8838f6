namespace Hypervisor.Platform.Hypervisor;

/// <summary>A backend cannot run on this host (no /dev/kvm, wrong API version...). The message says what to do instead.</summary>
public sealed class AccelerationUnavailableException(string message) : Exception(message);
