namespace Hypervisor.Network;

/// <summary>A network backend that cannot be set up as given (no such device, permission, a bad path); the message says why.</summary>
public sealed class NetBackendException(string message, Exception? inner = null) : Exception(message, inner);
