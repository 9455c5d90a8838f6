namespace Hypervisor.Cli.Parsing;

/// <summary>
/// The user asked for something hv cannot do as written (a malformed size, a missing file, a conflicting
/// option). The message is one line naming the problem; the command exits with status 2.
/// </summary>
public sealed class UsageException(string message) : Exception(message);
