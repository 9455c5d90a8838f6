using Hypervisor.Cli.SerialConsole;

namespace Hypervisor.Cli.Tests.SerialConsole;

public class EscapeSequenceTests
{
    private readonly EscapeSequence _escape = new();
    private readonly List<byte> _toGuest = [];

    [Fact]
    public void Ordinary_bytes_pass_through_including_ctrl_c()
    {
        Assert.Empty(_escape.Process("ls\x03\r"u8, _toGuest));
        Assert.Equal("ls\x03\r"u8.ToArray(), _toGuest);
    }

    [Fact]
    public void Ctrl_a_x_quits_and_drops_what_follows()
    {
        Assert.Equal([EscapeCommand.Quit], _escape.Process("ab\x01xcd"u8, _toGuest));
        Assert.Equal("ab"u8.ToArray(), _toGuest);
    }

    [Fact]
    public void The_escape_may_be_split_across_reads()
    {
        Assert.Empty(_escape.Process("a\x01"u8, _toGuest));
        Assert.Equal([EscapeCommand.Quit], _escape.Process("x"u8, _toGuest));
        Assert.Equal("a"u8.ToArray(), _toGuest);
    }

    [Fact]
    public void Ctrl_a_ctrl_a_sends_one_ctrl_a()
    {
        Assert.Empty(_escape.Process("\x01\x01z"u8, _toGuest));
        Assert.Equal("\x01z"u8.ToArray(), _toGuest);
    }

    [Fact]
    public void Ctrl_a_h_asks_for_help_and_unknown_escapes_are_swallowed()
    {
        Assert.Equal([EscapeCommand.Help, EscapeCommand.Unknown], _escape.Process("\x01h\x01q1"u8, _toGuest));
        Assert.Equal("1"u8.ToArray(), _toGuest);
    }
}
