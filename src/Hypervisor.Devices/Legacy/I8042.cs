using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// The Intel 8042 keyboard controller of the PC/AT (PS/2 variant, with the auxiliary port) at 0x60 (data) and
/// 0x64 (status/command). It matters to a VMM for three things besides the keyboard: the A20 gate (output port
/// bit 1), the CPU reset line (output port bit 0, pulsed by command 0xFE) and the controller self-tests every
/// BIOS and OS driver runs. IRQ1 follows "output buffer full with keyboard data" when the command byte enables it,
/// IRQ12 the same for the auxiliary port. No mouse is attached: the auxiliary port answers with a timeout.
/// </summary>
public sealed class I8042 : IBusDevice
{
    public const ushort DataPort = 0x60;
    public const ushort CommandPort = 0x64;
    public const int KeyboardIrq = 1;
    public const int AuxIrq = 12;

    // Status register bits.
    private const byte StatusOutputFull = 0x01, StatusSystem = 0x04, StatusCommand = 0x08,
        StatusNotInhibited = 0x10, StatusAuxData = 0x20, StatusTimeout = 0x40;

    // Command byte (controller RAM byte 0) bits.
    private const byte CtrKeyboardInterrupt = 0x01, CtrAuxInterrupt = 0x02, CtrSystem = 0x04,
        CtrKeyboardDisabled = 0x10, CtrAuxDisabled = 0x20, CtrTranslate = 0x40;

    // Output port bits.
    private const byte OutResetInactive = 0x01, OutA20 = 0x02, OutKeyboardFull = 0x10, OutAuxFull = 0x20;

    private readonly object _lock = new();
    private readonly IInterruptController _interrupts;
    private readonly IVmControl _vm;
    private readonly A20Gate _a20;
    private readonly Ps2Keyboard _keyboard = new();
    private readonly byte[] _ram = new byte[32];
    private readonly Queue<(byte Value, bool Aux, bool Timeout)> _controllerOutput = new();

    private byte _outputBuffer;
    private bool _outputFull, _outputAux, _outputTimeout;
    private bool _lastWriteWasCommand;
    private bool _systemFlag;
    private byte _pendingCommand;
    private byte _outputPort = 0xCF; // port 2 latches all ones at reset: A20 on, reset line inactive
    private bool _irq1, _irq12;

    public I8042(IInterruptController interrupts, IVmControl vm, A20Gate a20)
    {
        _interrupts = interrupts;
        _vm = vm;
        _a20 = a20;
        _ram[0] = CtrKeyboardInterrupt | CtrAuxInterrupt | CtrTranslate;
        a20.SetKeyboardController((_outputPort & OutA20) != 0);
    }

    public void RegisterPorts(PortIoBus bus)
    {
        bus.Register(DataPort, 1, this, "8042 data");
        bus.Register(CommandPort, 1, this, "8042 status/command");
    }

    public void Reset()
    {
        lock (_lock)
        {
            _keyboard.Reset();
            _controllerOutput.Clear();
            _outputFull = _outputAux = _outputTimeout = false;
            _pendingCommand = 0;
            _systemFlag = false;
            _ram[0] = CtrKeyboardInterrupt | CtrAuxInterrupt | CtrTranslate;
            WriteOutputPort(0xCF);
            UpdateIrqs();
        }
    }

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        if (data.Length == 0) return;
        lock (_lock)
        {
            data[0] = baseAddress + offset == DataPort ? ReadData() : Status();
        }
        data[1..].Fill(0xFF);
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return;
        bool reset;
        lock (_lock)
        {
            reset = baseAddress + offset == DataPort ? WriteData(data[0]) : WriteCommand(data[0]);
            FillOutputBuffer();
            UpdateIrqs();
        }
        if (reset) _vm.RequestStop(new VmStopRequest(VmStopReason.Reset, 0, "8042 keyboard controller reset"));
    }

    private byte Status()
    {
        byte status = StatusNotInhibited;
        if (_outputFull) status |= StatusOutputFull;
        if (_outputFull && _outputAux) status |= StatusAuxData;
        if (_outputFull && _outputTimeout) status |= StatusTimeout;
        if (_systemFlag) status |= StatusSystem;
        if (_lastWriteWasCommand) status |= StatusCommand;
        // Input buffer full (bit 1) never shows: every write is consumed before the guest can look again.
        return status;
    }

    private byte ReadData()
    {
        byte value = _outputBuffer; // an empty buffer reads its last contents again
        if (_outputFull)
        {
            _outputFull = false;
            UpdateIrqs(); // the line drops, so the next byte is a new edge
            FillOutputBuffer();
            UpdateIrqs();
        }
        return value;
    }

    private bool WriteCommand(byte command)
    {
        _lastWriteWasCommand = true;
        _pendingCommand = 0;
        switch (command)
        {
            case >= 0x20 and <= 0x3F: // read controller RAM; 0x20 is the command byte
                Reply(_ram[command & 0x1F]);
                break;
            case >= 0x60 and <= 0x7F: // write controller RAM: the byte follows on 0x60
            case 0xD1: // write output port
            case 0xD2: // write keyboard output buffer
            case 0xD3: // write auxiliary output buffer
            case 0xD4: // write to auxiliary device
                _pendingCommand = command;
                break;
            case 0xA4: // password installed? 0xF1 = no
                Reply(0xF1);
                break;
            case 0xA7:
                _ram[0] |= CtrAuxDisabled;
                break;
            case 0xA8:
                _ram[0] &= unchecked((byte)~CtrAuxDisabled);
                break;
            case 0xA9: // auxiliary interface test: 0 = no error
            case 0xAB: // keyboard interface test: 0 = no error
                Reply(0x00);
                break;
            case 0xAA: // controller self-test
                _systemFlag = true;
                Reply(0x55);
                break;
            case 0xAD:
                _ram[0] |= CtrKeyboardDisabled;
                break;
            case 0xAE:
                _ram[0] &= unchecked((byte)~CtrKeyboardDisabled);
                break;
            case 0xC0: // read input port: keyboard not inhibited
                Reply(0x80);
                break;
            case 0xD0:
                Reply(OutputPort());
                break;
            case 0xDD: // A20 off / on (the HP Vectra commands most 8042 firmware also accepts)
                WriteOutputPort((byte)(_outputPort & ~OutA20));
                break;
            case 0xDF:
                WriteOutputPort((byte)(_outputPort | OutA20));
                break;
            case 0xE0: // read test inputs (keyboard clock and data)
                Reply(0x00);
                break;
            case >= 0xF0:
                // Pulse the output port bits whose mask bit is 0 for 6 µs; bit 0 is the CPU reset line.
                return (command & 0x01) == 0;
        }
        return false;
    }

    private bool WriteData(byte value)
    {
        _lastWriteWasCommand = false;
        byte command = _pendingCommand;
        _pendingCommand = 0;
        switch (command)
        {
            case >= 0x60 and <= 0x7F:
                _ram[command & 0x1F] = value;
                if (command == 0x60) _systemFlag = (value & CtrSystem) != 0;
                return false;
            case 0xD1:
                WriteOutputPort(value);
                return (value & OutResetInactive) == 0; // the reset line is active low
            case 0xD2:
                _controllerOutput.Enqueue((value, false, false));
                return false;
            case 0xD3:
                _controllerOutput.Enqueue((value, true, false));
                return false;
            case 0xD4:
                // Nothing on the auxiliary port: the controller gives up on the clock and reports a timeout.
                _controllerOutput.Enqueue((0xFE, true, true));
                return false;
            default:
                _keyboard.Receive(value);
                return false;
        }
    }

    private void Reply(byte value) => _controllerOutput.Enqueue((value, false, false));

    private byte OutputPort()
    {
        byte value = (byte)(_outputPort & ~(OutKeyboardFull | OutAuxFull));
        if (_outputFull && !_outputAux) value |= OutKeyboardFull;
        if (_outputFull && _outputAux) value |= OutAuxFull;
        return value;
    }

    private void WriteOutputPort(byte value)
    {
        _outputPort = (byte)(value | OutResetInactive); // the pulse ends; the CPU is reset by the request
        _a20.SetKeyboardController((value & OutA20) != 0);
    }

    /// <summary>Moves the next byte into the output buffer: controller replies first, then the keyboard.</summary>
    private void FillOutputBuffer()
    {
        if (_outputFull) return;
        if (_controllerOutput.Count > 0)
        {
            (_outputBuffer, _outputAux, _outputTimeout) = _controllerOutput.Dequeue();
            _outputFull = true;
        }
        else if ((_ram[0] & CtrKeyboardDisabled) == 0 && _keyboard.HasOutput)
        {
            _outputBuffer = _keyboard.TakeOutput();
            _outputAux = false;
            _outputTimeout = false;
            _outputFull = true;
        }
    }

    private void UpdateIrqs()
    {
        bool irq1 = _outputFull && !_outputAux && (_ram[0] & CtrKeyboardInterrupt) != 0;
        bool irq12 = _outputFull && _outputAux && (_ram[0] & CtrAuxInterrupt) != 0;
        if (irq1 != _irq1)
        {
            _irq1 = irq1;
            _interrupts.SetIrq(KeyboardIrq, irq1);
        }
        if (irq12 != _irq12)
        {
            _irq12 = irq12;
            _interrupts.SetIrq(AuxIrq, irq12);
        }
    }
}
