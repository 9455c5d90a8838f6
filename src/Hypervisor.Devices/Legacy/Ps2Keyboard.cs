namespace Hypervisor.Devices.Legacy;

/// <summary>
/// An IBM MF2 keyboard on the 8042's keyboard port: the command set a BIOS and an OS driver use to find,
/// reset and configure it. Nobody types on it yet (no host key input), so it only ever answers commands.
/// Not thread-safe; <see cref="I8042"/> serialises access.
/// </summary>
internal sealed class Ps2Keyboard
{
    private const byte Ack = 0xFA, Resend = 0xFE, SelfTestPassed = 0xAA, Echo = 0xEE;

    private readonly Queue<byte> _output = new();
    private byte _pendingCommand; // command waiting for its parameter byte
    private byte _lastSent = Ack;

    public bool ScanningEnabled { get; private set; } = true;
    public int ScanCodeSet { get; private set; } = 2;
    public byte Leds { get; private set; }

    public bool HasOutput => _output.Count > 0;

    public byte TakeOutput()
    {
        _lastSent = _output.Dequeue();
        return _lastSent;
    }

    public void Reset()
    {
        _output.Clear();
        _pendingCommand = 0;
        SetDefaults();
        ScanningEnabled = true;
    }

    /// <summary>A byte the host sent down the keyboard port.</summary>
    public void Receive(byte value)
    {
        if (_pendingCommand != 0)
        {
            ReceiveParameter(value);
            return;
        }
        switch (value)
        {
            case 0xFF: // reset: acknowledge, run the basic assurance test
                _output.Clear();
                SetDefaults();
                ScanningEnabled = true;
                Send(Ack);
                Send(SelfTestPassed);
                break;
            case 0xFE:
                Send(_lastSent);
                break;
            case 0xF6: // set default
                SetDefaults();
                Send(Ack);
                break;
            case 0xF5: // default disable
                SetDefaults();
                ScanningEnabled = false;
                Send(Ack);
                break;
            case 0xF4:
                ScanningEnabled = true;
                Send(Ack);
                break;
            case 0xF2: // read ID: MF2 keyboard
                Send(Ack);
                Send(0xAB);
                Send(0x83);
                break;
            case 0xEE:
                Send(Echo);
                break;
            case 0xF3: // typematic rate/delay
            case 0xF0: // select scan code set
            case 0xED: // set LEDs
                _pendingCommand = value;
                Send(Ack);
                break;
            default:
                Send(Resend);
                break;
        }
    }

    private void ReceiveParameter(byte value)
    {
        byte command = _pendingCommand;
        _pendingCommand = 0;
        switch (command)
        {
            case 0xED:
                Leds = (byte)(value & 0x07);
                Send(Ack);
                break;
            case 0xF3:
                Send(Ack);
                break;
            case 0xF0:
                if (value == 0)
                {
                    Send(Ack);
                    Send((byte)ScanCodeSet);
                }
                else if (value <= 3)
                {
                    ScanCodeSet = value;
                    Send(Ack);
                }
                else
                {
                    Send(Resend);
                }
                break;
        }
    }

    private void SetDefaults()
    {
        ScanCodeSet = 2;
        Leds = 0;
    }

    private void Send(byte value) => _output.Enqueue(value);
}
