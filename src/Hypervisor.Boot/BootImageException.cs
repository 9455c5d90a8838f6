namespace Hypervisor.Boot;

/// <summary>
/// A kernel, initrd or module the user gave cannot be booted. The message names the file and the problem and is
/// meant to be shown as is, without a stack trace.
/// </summary>
public sealed class BootImageException : Exception
{
    public BootImageException(string message) : base(message) { }

    public BootImageException(string file, string problem) : base($"{file}: {problem}") { }
}
