namespace Hypervisor.Cli.SerialConsole;

/// <summary>What the user asked for with the Ctrl-A escape on an interactive console.</summary>
public enum EscapeCommand
{
    Quit,
    Help,
    Unknown,
}

/// <summary>
/// QEMU's -nographic escape: Ctrl-A x quits, Ctrl-A h shows help, Ctrl-A Ctrl-A sends one Ctrl-A; every other
/// byte goes to the guest. Keeps state across reads, since the two bytes can arrive in separate reads.
/// </summary>
public sealed class EscapeSequence
{
    public const byte EscapeByte = 0x01; // Ctrl-A

    public const string HelpText =
        "hv console escapes:\r\n" +
        "  Ctrl-A x        quit hv\r\n" +
        "  Ctrl-A h        show this help\r\n" +
        "  Ctrl-A Ctrl-A   send Ctrl-A to the guest\r\n";

    private bool _escapePending;

    /// <summary>
    /// Appends the bytes meant for the guest to <paramref name="toGuest"/> and returns the escape commands seen,
    /// in order. Processing stops at a quit: nothing typed after it reaches the guest.
    /// </summary>
    public List<EscapeCommand> Process(ReadOnlySpan<byte> input, List<byte> toGuest)
    {
        var commands = new List<EscapeCommand>();
        foreach (byte b in input)
        {
            if (!_escapePending)
            {
                if (b == EscapeByte) _escapePending = true;
                else toGuest.Add(b);
                continue;
            }
            _escapePending = false;
            switch (b)
            {
                case EscapeByte:
                    toGuest.Add(EscapeByte);
                    break;
                case (byte)'x' or (byte)'X':
                    commands.Add(EscapeCommand.Quit);
                    return commands;
                case (byte)'h' or (byte)'H' or (byte)'?':
                    commands.Add(EscapeCommand.Help);
                    break;
                default:
                    commands.Add(EscapeCommand.Unknown);
                    break;
            }
        }
        return commands;
    }
}
