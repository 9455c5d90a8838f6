namespace Hypervisor.Machine;

/// <summary>Bad user input (a missing file, a malformed image, an impossible size). The message is one line for the user.</summary>
public sealed class MachineConfigurationException(string message, Exception? inner = null) : Exception(message, inner);
