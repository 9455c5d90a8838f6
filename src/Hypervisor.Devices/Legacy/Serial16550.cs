using Hypervisor.Devices.Console;
using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// National Semiconductor PC16550D UART (the "16550A" of PC serial ports): eight registers at a base port,
/// 16-byte receive FIFO with trigger levels and character timeout, the four prioritised interrupt sources,
/// loopback and modem-status deltas. Transmission is instantaneous: a byte written to THR leaves for the
/// backend at once, so THR and the transmitter are always empty again by the next access.
/// The interrupt output reaches the PIC only through OUT2, as on every PC serial card.
/// <para>
/// The host end of the line is a terminal that follows the guest's use of the modem-control lines (EIA-232).
/// A guest that raises DTR or RTS drives the handshake, and the host then honours RTS/CTS flow control: it
/// sends only while RTS is asserted and otherwise keeps what was typed or piped. Linux does this: its console
/// setup raises DTR first, and it raises RTS only once the port is open and ready (serial_core's
/// uart_port_startup), after its probe and startup have reset the FIFOs and read RBR; bytes the UART had taken
/// before then would be thrown away. The same line gives back-pressure: a full receiver, or a driver that drops
/// RTS to throttle, makes the host wait, as QEMU's chardev can_receive does.
/// A guest that never touches DTR/RTS (SeaBIOS's serial console, boot loaders and small kernels that poll the
/// line status) is on a three-wire line without handshake: the host sends from the moment the guest first
/// reads LSR to look for input, as QEMU would. Until one of the two happens after a reset, input is held.
/// </para>
/// </summary>
public sealed class Serial16550 : IBusDevice, IDisposable
{
    public const ushort Com1Port = 0x3F8;
    public const int Com1Irq = 4;
    public const ushort Com2Port = 0x2F8;
    public const int Com2Irq = 3;

    /// <summary>Number of consecutive ports the UART occupies.</summary>
    public const ushort PortCount = 8;

    /// <summary>Input the host sent that the receiver could not take yet is held up to this many bytes.</summary>
    public const int HostInputLimit = 1 << 20;

    private const int FifoDepth = 16;

    // Register offsets (datasheet table II).
    private const int RbrThrDll = 0, IerDlm = 1, IirFcr = 2, Lcr = 3, Mcr = 4, Lsr = 5, Msr = 6, Scr = 7;

    // IER bits.
    private const byte IerRxData = 0x01, IerThre = 0x02, IerLineStatus = 0x04, IerModemStatus = 0x08;

    // IIR identification codes (bit 0 clear = pending).
    private const byte IirNone = 0x01, IirLineStatus = 0x06, IirRxData = 0x04, IirTimeout = 0x0C, IirThre = 0x02,
        IirModemStatus = 0x00, IirFifoEnabled = 0xC0;

    // FCR bits.
    private const byte FcrEnable = 0x01, FcrClearRx = 0x02;

    // LCR bits.
    private const byte LcrBreak = 0x40, LcrDlab = 0x80;

    // MCR bits.
    private const byte McrDtr = 0x01, McrRts = 0x02, McrOut1 = 0x04, McrOut2 = 0x08, McrLoop = 0x10;

    // LSR bits.
    private const byte LsrDataReady = 0x01, LsrOverrun = 0x02, LsrBreak = 0x10, LsrThre = 0x20, LsrTemt = 0x40,
        LsrFifoError = 0x80;
    private const byte LsrErrorBits = 0x1E;

    // MSR bits.
    private const byte MsrDcts = 0x01, MsrDdsr = 0x02, MsrTeri = 0x04, MsrDdcd = 0x08;
    private const byte MsrCts = 0x10, MsrDsr = 0x20, MsrRi = 0x40, MsrDcd = 0x80;

    private readonly object _lock = new();
    private readonly IInterruptController _interrupts;
    private readonly ICharacterBackend _backend;
    private readonly VirtualClock _clock;
    private readonly IVirtualTimer _timeoutTimer;

    private readonly (byte Data, bool Break)[] _rxFifo = new (byte, bool)[FifoDepth];
    private int _rxHead, _rxCount;
    private readonly Queue<byte> _hostInput = new();

    private byte _ier, _lcr, _mcr, _scr, _fcr;
    private byte _dll = 0x0C, _dlm; // 9600 baud until the guest programs the divisor
    private byte _lastRbr;
    private byte _lsrErrors;
    private byte _msrLines, _msrDeltas;
    private bool _thrInterruptPending;
    private bool _timeoutPending;
    private bool _irqLevel;
    private bool _disposed;
    private LineHandshake _handshake;

    /// <summary>How the host end of the line decides when it may send (see the class remarks).</summary>
    private enum LineHandshake : byte
    {
        /// <summary>After reset: the guest has shown neither a handshake nor a polling reader; input is held.</summary>
        Undecided,
        /// <summary>The guest drives DTR/RTS: the host sends while RTS is asserted.</summary>
        RtsCts,
        /// <summary>The guest polls LSR without ever driving DTR/RTS: the host sends whenever there is room.</summary>
        ThreeWire,
    }

    public Serial16550(ushort basePort, int irq, IInterruptController interrupts, ICharacterBackend backend,
        VirtualClock clock)
    {
        BasePort = basePort;
        Irq = irq;
        _interrupts = interrupts;
        _backend = backend;
        _clock = clock;
        _timeoutTimer = clock.CreateTimer(OnTimeoutTimer);
        _msrLines = ModemInputs();
        backend.SetReceiver(ReceiveFromHost);
    }

    public ushort BasePort { get; }
    public int Irq { get; }

    /// <summary>True while the guest has the UART in loopback (MCR bit 4): transmitted bytes never leave.</summary>
    public bool Loopback
    {
        get
        {
            lock (_lock) return (_mcr & McrLoop) != 0;
        }
    }

    /// <summary>Baud rate the guest programmed: 1.8432 MHz / (16 × divisor).</summary>
    public int BaudRate
    {
        get
        {
            lock (_lock) return 115200 / Divisor;
        }
    }

    public void RegisterPorts(PortIoBus bus) => bus.Register(BasePort, PortCount, this, $"16550 UART 0x{BasePort:x}");

    /// <summary>Master reset (datasheet table IV): everything but the divisor latches, RBR and SCR.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            _ier = 0;
            _lcr = 0;
            _mcr = 0;
            _handshake = LineHandshake.Undecided;
            _fcr = 0;
            _lsrErrors = 0;
            _rxHead = _rxCount = 0;
            _thrInterruptPending = false;
            _timeoutPending = false;
            _timeoutTimer.Disarm();
            _msrLines = ModemInputs();
            _msrDeltas = 0;
            FillFromHost();
            UpdateIrq();
        }
    }

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            // A wide access to an 8-bit ISA device is split into byte cycles at consecutive ports.
            for (int i = 0; i < data.Length; i++)
            {
                ulong register = offset + (ulong)i;
                data[i] = register < PortCount ? ReadRegister((int)register) : (byte)0xFF;
            }
            UpdateIrq();
        }
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        Span<byte> transmitted = stackalloc byte[8];
        int count = 0;
        lock (_lock)
        {
            for (int i = 0; i < data.Length && i < 8 && offset + (ulong)i < PortCount; i++)
            {
                int sent = WriteRegister((int)(offset + (ulong)i), data[i]);
                if (sent >= 0) transmitted[count++] = (byte)sent;
            }
            UpdateIrq();
        }
        // Outside the lock: a backend may block on the host, and its receive path takes this lock.
        if (count > 0) _backend.Write(transmitted[..count]);
    }

    public void Dispose()
    {
        _backend.SetReceiver(null);
        lock (_lock)
        {
            _disposed = true;
            _timeoutTimer.Dispose();
        }
    }

    private int Divisor => Math.Max(1, _dll | (_dlm << 8));
    private bool FifoEnabled => (_fcr & FcrEnable) != 0;
    private int RxCapacity => FifoEnabled ? FifoDepth : 1;

    private int RxTriggerLevel => (_fcr >> 6) switch
    {
        0 => 1,
        1 => 4,
        2 => 8,
        _ => 14,
    };

    private byte ReadRegister(int register)
    {
        bool dlab = (_lcr & LcrDlab) != 0;
        switch (register)
        {
            case RbrThrDll:
                return dlab ? _dll : ReadRbr();
            case IerDlm:
                return dlab ? _dlm : _ier;
            case IirFcr:
            {
                byte iir = InterruptIdentification();
                // Datasheet table IV: reading IIR while THRE is the identified source clears that interrupt.
                if ((iir & 0x0F) == IirThre) _thrInterruptPending = false;
                return iir;
            }
            case Lcr:
                return _lcr;
            case Mcr:
                return _mcr;
            case Lsr:
            {
                if (_handshake == LineHandshake.Undecided)
                {
                    _handshake = LineHandshake.ThreeWire;
                    FillFromHost();
                }
                byte lsr = LineStatus();
                _lsrErrors = 0; // OE, PE, FE and BI are cleared by the read that reports them
                return lsr;
            }
            case Msr:
            {
                byte msr = (byte)(_msrLines | _msrDeltas);
                _msrDeltas = 0;
                return msr;
            }
            default:
                return _scr;
        }
    }

    private int WriteRegister(int register, byte value)
    {
        bool dlab = (_lcr & LcrDlab) != 0;
        switch (register)
        {
            case RbrThrDll:
                if (dlab)
                {
                    _dll = value;
                    return -1;
                }
                return WriteThr(value);
            case IerDlm:
                if (dlab)
                {
                    _dlm = value;
                    return -1;
                }
                WriteIer(value);
                return -1;
            case IirFcr:
                WriteFcr(value);
                return -1;
            case Lcr:
            {
                bool breakStarts = (value & LcrBreak) != 0 && (_lcr & LcrBreak) == 0;
                _lcr = value;
                // In loopback the serial output is wired to the input: a break sent is a break received.
                if (breakStarts && (_mcr & McrLoop) != 0) ReceiveCharacter(0, isBreak: true);
                return -1;
            }
            case Mcr:
            {
                _mcr = (byte)(value & 0x1F);
                if ((_mcr & (McrDtr | McrRts)) != 0) _handshake = LineHandshake.RtsCts;
                UpdateModemInputs();
                FillFromHost(); // RTS raised or loopback left: the host may send what it holds
                return -1;
            }
            case Lsr:
            case Msr:
                return -1; // factory test registers: writes have no defined effect
            default:
                _scr = value;
                return -1;
        }
    }

    private void WriteIer(byte value)
    {
        bool threEnabled = (value & IerThre) != 0 && (_ier & IerThre) == 0;
        _ier = (byte)(value & 0x0F);
        // Enabling ETBEI while THR is empty raises a THRE interrupt even after an IIR read consumed the last one
        // (QEMU and Bochs: on the rising edge); Linux's 8250 driver probes for exactly this (UART_BUG_THRE) and
        // falls back to polling the transmitter without it.
        if (threEnabled) _thrInterruptPending = true;
    }

    private int WriteThr(byte value)
    {
        _thrInterruptPending = false;
        int transmitted = -1;
        if ((_mcr & McrLoop) != 0) ReceiveCharacter(value, isBreak: false);
        else transmitted = value;
        // The byte moved to the (instant) transmitter, so THR is empty again and THRE interrupts anew.
        _thrInterruptPending = true;
        return transmitted;
    }

    private void WriteFcr(byte value)
    {
        bool wasEnabled = FifoEnabled;
        if ((value & FcrEnable) == 0)
        {
            // FCR bits 1-7 are only programmed together with FCR0 = 1 (datasheet 8.5).
            _fcr = 0;
            if (wasEnabled) ClearRx();
            return;
        }
        _fcr = (byte)(value & 0xC9);
        if (!wasEnabled || (value & FcrClearRx) != 0) ClearRx();
        // Bit 2 clears the transmit FIFO, which is always empty here.
    }

    private void ClearRx()
    {
        _rxHead = _rxCount = 0;
        _timeoutPending = false;
        _timeoutTimer.Disarm();
        FillFromHost();
    }

    private byte ReadRbr()
    {
        if (_rxCount == 0) return _lastRbr;
        var (data, _) = _rxFifo[_rxHead];
        _rxHead = (_rxHead + 1) % FifoDepth;
        _rxCount--;
        _lastRbr = data;
        // In FIFO mode an error belongs to the character at the top of the FIFO and is reported when it gets
        // there (datasheet 8.6, LSR bits 2-4).
        if (_rxCount > 0 && _rxFifo[_rxHead].Break) _lsrErrors |= LsrBreak;
        _timeoutPending = false;
        FillFromHost();
        RestartTimeout();
        return data;
    }

    private void ReceiveCharacter(byte value, bool isBreak)
    {
        if (_rxCount >= RxCapacity)
        {
            // Overrun: in FIFO mode the character in the shift register is lost and the FIFO kept; in 16450
            // mode the new character overwrites RBR (datasheet LSR bit 1).
            _lsrErrors |= LsrOverrun;
            if (!FifoEnabled) _rxFifo[_rxHead] = (value, isBreak);
            if (isBreak) _lsrErrors |= LsrBreak;
            return;
        }
        _rxFifo[(_rxHead + _rxCount) % FifoDepth] = (value, isBreak);
        _rxCount++;
        if (isBreak && _rxCount == 1) _lsrErrors |= LsrBreak;
        _timeoutPending = false;
        RestartTimeout();
    }

    private void ReceiveFromHost(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (_disposed) return;
            foreach (byte b in data)
            {
                if (_hostInput.Count >= HostInputLimit) break;
                _hostInput.Enqueue(b);
            }
            FillFromHost();
            UpdateIrq();
        }
    }

    /// <summary>
    /// Moves held host input into the receiver while the line's handshake lets the host send and the receiver
    /// has room. The host side has no baud rate, so instead of overrunning the FIFO the bytes wait here, as they
    /// would in a real terminal's output queue. Loopback disconnects the serial input (datasheet MCR bit 4).
    /// </summary>
    private void FillFromHost()
    {
        if ((_mcr & McrLoop) != 0) return;
        bool clearToSend = _handshake switch
        {
            LineHandshake.RtsCts => (_mcr & McrRts) != 0,
            LineHandshake.ThreeWire => true,
            _ => false,
        };
        if (!clearToSend) return;
        while (_hostInput.Count > 0 && _rxCount < RxCapacity) ReceiveCharacter(_hostInput.Dequeue(), isBreak: false);
    }

    /// <summary>The character timeout fires after four character times without input or a read (datasheet 8.7).</summary>
    private void RestartTimeout()
    {
        if (!FifoEnabled || _rxCount == 0)
        {
            _timeoutTimer.Disarm();
            return;
        }
        _timeoutTimer.ArmAt(_clock.NowNanoseconds + CharacterTimesNanoseconds(4));
    }

    private long CharacterTimesNanoseconds(int characters)
    {
        int bits = 1 + 5 + (_lcr & 0x03) + ((_lcr & 0x08) != 0 ? 1 : 0) + ((_lcr & 0x04) != 0 ? 2 : 1);
        return characters * bits * 1_000_000_000L * Divisor / 115200;
    }

    private void OnTimeoutTimer()
    {
        lock (_lock)
        {
            if (_disposed) return;
            if (FifoEnabled && _rxCount > 0) _timeoutPending = true;
            UpdateIrq();
        }
    }

    private byte LineStatus()
    {
        byte lsr = (byte)(LsrThre | LsrTemt | _lsrErrors);
        if (_rxCount > 0) lsr |= LsrDataReady;
        if (FifoEnabled)
            for (int i = 0; i < _rxCount; i++)
                if (_rxFifo[(_rxHead + i) % FifoDepth].Break)
                {
                    lsr |= LsrFifoError;
                    break;
                }
        return lsr;
    }

    /// <summary>Datasheet table V: line status, then received data / timeout, then THRE, then modem status.</summary>
    private byte InterruptIdentification()
    {
        byte id;
        if ((_ier & IerLineStatus) != 0 && (_lsrErrors & LsrErrorBits) != 0) id = IirLineStatus;
        else if ((_ier & IerRxData) != 0 && _rxCount >= (FifoEnabled ? RxTriggerLevel : 1)) id = IirRxData;
        else if ((_ier & IerRxData) != 0 && _timeoutPending) id = IirTimeout;
        else if ((_ier & IerThre) != 0 && _thrInterruptPending) id = IirThre;
        else if ((_ier & IerModemStatus) != 0 && _msrDeltas != 0) id = IirModemStatus;
        else id = IirNone;
        return (byte)(id | (FifoEnabled ? IirFifoEnabled : 0));
    }

    /// <summary>
    /// Modem inputs: in loopback the MCR outputs feed them back (DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD); otherwise a
    /// connected, idle line: carrier, data set ready and clear to send, no ring.
    /// </summary>
    private byte ModemInputs()
    {
        if ((_mcr & McrLoop) == 0) return MsrCts | MsrDsr | MsrDcd;
        byte lines = 0;
        if ((_mcr & McrRts) != 0) lines |= MsrCts;
        if ((_mcr & McrDtr) != 0) lines |= MsrDsr;
        if ((_mcr & McrOut1) != 0) lines |= MsrRi;
        if ((_mcr & McrOut2) != 0) lines |= MsrDcd;
        return lines;
    }

    private void UpdateModemInputs()
    {
        byte lines = ModemInputs();
        byte changed = (byte)(lines ^ _msrLines);
        if ((changed & MsrCts) != 0) _msrDeltas |= MsrDcts;
        if ((changed & MsrDsr) != 0) _msrDeltas |= MsrDdsr;
        if ((changed & MsrDcd) != 0) _msrDeltas |= MsrDdcd;
        if ((_msrLines & MsrRi) != 0 && (lines & MsrRi) == 0) _msrDeltas |= MsrTeri; // trailing edge only
        _msrLines = lines;
    }

    /// <summary>
    /// The INTR pin goes through OUT2 to the ISA IRQ line on a PC; in loopback OUT2 is forced inactive
    /// (datasheet MCR bit 4), which on a PC disconnects the interrupt.
    /// </summary>
    private void UpdateIrq()
    {
        bool pending = (InterruptIdentification() & 0x01) == 0;
        bool level = pending && (_mcr & (McrOut2 | McrLoop)) == McrOut2;
        if (level == _irqLevel) return;
        _irqLevel = level;
        _interrupts.SetIrq(Irq, level);
    }
}
