using Hypervisor.Devices.Console;

namespace Hypervisor.Cli.SerialConsole;

/// <summary>--serial none: the UART is there for the guest, but what it sends goes nowhere and nothing arrives.</summary>
public sealed class NullCharacterBackend : ICharacterBackend
{
    public void Write(ReadOnlySpan<byte> data)
    {
    }

    public void SetReceiver(CharacterReceiver? receiver)
    {
    }
}
