namespace Hypervisor.Storage;

/// <summary>A disk image that cannot be used as given (missing, unreadable, wrong size); the message says why.</summary>
public sealed class BlockBackendException(string message, Exception? inner = null) : Exception(message, inner);
