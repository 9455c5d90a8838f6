using Hypervisor.Devices.Console;
using Hypervisor.Machine;

namespace Hypervisor.Cli.SerialConsole;

/// <summary>Opens the host end of COM1 that --serial asked for.</summary>
public static class SerialBackends
{
    /// <summary>The backend for <paramref name="config"/>; dispose it (when it is disposable) after the machine stops.</summary>
    public static ICharacterBackend Open(SerialConfig config, Action quit) => config switch
    {
        SerialConfig.Stdio => new StdioCharacterBackend(quit),
        SerialConfig.File file => new FileCharacterBackend(file.Path),
        SerialConfig.None => new NullCharacterBackend(),
        _ => throw new ArgumentOutOfRangeException(nameof(config), config, "unknown serial configuration"),
    };
}
