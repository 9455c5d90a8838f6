using Hypervisor.Devices.Console;
using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Legacy;

public class Serial16550Tests
{
    private const ushort Base = Serial16550.Com1Port;
    private const ushort Thr = Base, Ier = Base + 1, Iir = Base + 2, Fcr = Base + 2, Lcr = Base + 3, Mcr = Base + 4,
        Lsr = Base + 5, Msr = Base + 6, Scr = Base + 7;

    private readonly RecordingInterruptController _irq = new();
    private readonly InMemoryCharacterBackend _backend = new();
    private readonly ManualClock _clock = new();
    private readonly PortIoBus _bus = new();
    private readonly Serial16550 _uart;

    public Serial16550Tests()
    {
        _uart = new Serial16550(Base, Serial16550.Com1Irq, _irq, _backend, _clock);
        _uart.RegisterPorts(_bus);
    }

    private bool Irq4 => _irq.Level(Serial16550.Com1Irq);

    [Fact]
    public void ResetStateHasEmptyTransmitterAndNoInterrupt()
    {
        Assert.Equal(0x60, _bus.In8(Lsr)); // THRE | TEMT
        Assert.Equal(0x01, _bus.In8(Iir));
        Assert.Equal(0x00, _bus.In8(Ier));
        Assert.Equal(0xB0, _bus.In8(Msr)); // DCD, DSR, CTS of a connected line, no deltas
    }

    [Fact]
    public void TransmittedBytesReachTheBackend()
    {
        foreach (char c in "hv\n") _bus.Out8(Thr, (byte)c);
        Assert.Equal("hv\n", _backend.OutputText);
        Assert.Equal(0x60, _bus.In8(Lsr) & 0x60);
    }

    [Fact]
    public void DlabSelectsTheDivisorLatchesInsteadOfThrAndIer()
    {
        _bus.Out8(Lcr, 0x83);
        _bus.Out8(Thr, 0x01); // DLL
        _bus.Out8(Ier, 0x00); // DLM
        Assert.Equal(0x01, _bus.In8(Thr));
        Assert.Equal(115200, _uart.BaudRate);
        _bus.Out8(Thr, 0x0C);
        Assert.Equal(9600, _uart.BaudRate);
        _bus.Out8(Lcr, 0x03);
        Assert.Empty(_backend.Output); // the divisor writes did not transmit
        Assert.Equal(0x00, _bus.In8(Ier));
        Assert.Equal(0x03, _bus.In8(Lcr));
    }

    [Fact]
    public void ScratchRegisterHoldsItsValue()
    {
        _bus.Out8(Scr, 0x5A);
        Assert.Equal(0x5A, _bus.In8(Scr));
    }

    [Fact]
    public void ReceivedDataSetsDataReadyAndRaisesIrqOnlyWithOut2()
    {
        _bus.Out8(Ier, 0x01);
        _bus.Out8(Mcr, 0x02); // RTS: the host may send
        _backend.Send("A");
        Assert.Equal(0x61, _bus.In8(Lsr));
        Assert.Equal(0x04, _bus.In8(Iir));
        Assert.False(Irq4); // OUT2 clear: the PC's IRQ driver is disabled
        _bus.Out8(Mcr, 0x0A);
        Assert.True(Irq4);
        Assert.Equal((byte)'A', _bus.In8(Thr));
        Assert.False(Irq4);
        Assert.Equal(0x60, _bus.In8(Lsr));
        Assert.Equal(0x01, _bus.In8(Iir));
    }

    [Fact]
    public void ThreInterruptIsRaisedOnIerWriteAndClearedByIirRead()
    {
        _bus.Out8(Mcr, 0x0B);
        _bus.Out8(Ier, 0x02);
        Assert.True(Irq4);
        Assert.Equal(0x02, _bus.In8(Iir));
        Assert.False(Irq4);
        Assert.Equal(0x01, _bus.In8(Iir));
        // Linux's UART_BUG_THRE probe: disable, re-enable, expect the interrupt again.
        _bus.Out8(Ier, 0x00);
        _bus.Out8(Ier, 0x02);
        Assert.Equal(0x02, _bus.In8(Iir));
    }

    [Fact]
    public void WritingThrClearsAndThenReassertsThreBecauseTheTransmitterEmptiesAtOnce()
    {
        _bus.Out8(Mcr, 0x08);
        _bus.Out8(Ier, 0x02);
        Assert.Equal(0x02, _bus.In8(Iir)); // consumed
        Assert.False(Irq4);
        _bus.Out8(Thr, (byte)'x');
        Assert.True(Irq4);
        Assert.Equal(0x02, _bus.In8(Iir));
    }

    [Fact]
    public void InterruptPriorityIsLineStatusThenReceiveThenThreThenModemStatus()
    {
        _bus.Out8(Fcr, 0x01);
        _bus.Out8(Mcr, 0x10); // loopback, so THR feeds the receiver; leaving it later changes the modem inputs
        for (int i = 0; i < 17; i++) _bus.Out8(Thr, (byte)i); // 17th overruns
        _bus.Out8(Mcr, 0x00); // leave loopback: CTS/DSR/DCD change -> modem status deltas
        _bus.Out8(Ier, 0x0F);
        Assert.Equal(0xC6, _bus.In8(Iir)); // line status (overrun)
        Assert.Equal(0x02, _bus.In8(Lsr) & 0x02);
        Assert.Equal(0xC4, _bus.In8(Iir)); // received data at trigger level 1
        for (int i = 0; i < 16; i++) _bus.In8(Thr);
        Assert.Equal(0xC2, _bus.In8(Iir)); // THRE (cleared by this read)
        Assert.Equal(0xC0, _bus.In8(Iir)); // modem status
        Assert.Equal(0x0B, _bus.In8(Msr) & 0x0F); // DCTS, DDSR, DDCD
        Assert.Equal(0xC1, _bus.In8(Iir));
    }

    [Fact]
    public void FifoTriggerLevelDelaysTheReceiveInterruptUntilTheTimeout()
    {
        _bus.Out8(Lcr, 0x03); // 8N1
        _bus.Out8(Fcr, 0x41); // FIFO on, trigger 4
        _bus.Out8(Ier, 0x01);
        _bus.Out8(Mcr, 0x0A);
        _backend.Send("abc");
        Assert.Equal(0xC1, _bus.In8(Iir));
        Assert.False(Irq4);
        _backend.Send("d");
        Assert.Equal(0xC4, _bus.In8(Iir));
        Assert.True(Irq4);
        _bus.In8(Thr);
        Assert.False(Irq4); // 3 left, below the trigger
        // 9600 baud 8N1: 10 bits per character, timeout after 4 character times.
        long fourCharacters = 4 * 10 * 1_000_000_000L * 12 / 115200;
        _clock.Advance(fourCharacters - 1);
        Assert.False(Irq4);
        _clock.Advance(1);
        Assert.True(Irq4);
        Assert.Equal(0xCC, _bus.In8(Iir));
        Assert.Equal((byte)'b', _bus.In8(Thr)); // reading clears the timeout indication
        Assert.False(Irq4);
        Assert.Equal(0xC1, _bus.In8(Iir));
    }

    [Fact]
    public void HostInputBeyondTheFifoWaitsInsteadOfOverrunning()
    {
        _bus.Out8(Fcr, 0x01);
        _bus.Out8(Mcr, 0x02);
        var text = new string('z', 40);
        _backend.Send(text);
        var received = new List<byte>();
        while ((_bus.In8(Lsr) & 0x01) != 0) received.Add(_bus.In8(Thr));
        Assert.Equal(40, received.Count);
        Assert.Equal(0, _bus.In8(Lsr) & 0x02);
    }

    [Fact]
    public void NonFifoModeOverrunOverwritesTheReceiverBuffer()
    {
        _bus.Out8(Mcr, 0x10);
        _bus.Out8(Thr, 0x11);
        _bus.Out8(Thr, 0x22);
        Assert.Equal(0x63, _bus.In8(Lsr)); // DR | OE
        Assert.Equal(0x61, _bus.In8(Lsr)); // OE cleared by the read
        Assert.Equal(0x22, _bus.In8(Thr));
        Assert.Equal(0x01, _bus.In8(Iir)); // FIFO bits clear in 16450 mode
    }

    [Fact]
    public void FifoModeOverrunKeepsTheFifoAndLosesTheNewCharacter()
    {
        _bus.Out8(Fcr, 0x07);
        _bus.Out8(Mcr, 0x10);
        for (int i = 0; i < 17; i++) _bus.Out8(Thr, (byte)i);
        Assert.Equal(0x63, _bus.In8(Lsr));
        for (int i = 0; i < 16; i++) Assert.Equal(i, _bus.In8(Thr));
        Assert.Equal(0x60, _bus.In8(Lsr));
    }

    [Fact]
    public void FcrClearsTheReceiveFifo()
    {
        _bus.Out8(Fcr, 0x01);
        _bus.Out8(Mcr, 0x02);
        _backend.Send("abc");
        _bus.Out8(Fcr, 0x03);
        Assert.Equal(0x60, _bus.In8(Lsr));
    }

    [Fact]
    public void LoopbackDoesNotTransmitAndWiresModemControlToModemStatus()
    {
        _bus.Out8(Mcr, 0x1A); // loop | OUT2 | RTS: Linux's autoconfig check expects CTS | DCD
        Assert.Equal(0x90, _bus.In8(Msr) & 0xF0);
        _bus.Out8(Thr, 0x42);
        Assert.Empty(_backend.Output);
        Assert.Equal(0x42, _bus.In8(Thr));
        _bus.Out8(Mcr, 0x1F);
        Assert.Equal(0xF0, _bus.In8(Msr) & 0xF0);
    }

    [Fact]
    public void RingIndicatorDeltaIsSetOnlyOnTheTrailingEdge()
    {
        _bus.Out8(Mcr, 0x10);
        _bus.In8(Msr);
        _bus.Out8(Mcr, 0x14); // OUT1 -> RI rises
        Assert.Equal(0x40, _bus.In8(Msr));
        _bus.Out8(Mcr, 0x10); // RI falls
        Assert.Equal(0x04, _bus.In8(Msr));
        Assert.Equal(0x00, _bus.In8(Msr)); // deltas clear on read
    }

    [Fact]
    public void ModemStatusInterruptFollowsDeltaBits()
    {
        _bus.Out8(Mcr, 0x18); // loop | OUT2; leaving loop later still has OUT2
        _bus.In8(Msr);
        _bus.Out8(Ier, 0x08);
        Assert.Equal(0x01, _bus.In8(Iir));
        _bus.Out8(Mcr, 0x1A); // RTS -> CTS changes
        Assert.Equal(0x00, _bus.In8(Iir));
        _bus.In8(Msr);
        Assert.Equal(0x01, _bus.In8(Iir));
    }

    [Fact]
    public void LoopbackGatesTheIrqLikeOut2()
    {
        _bus.Out8(Ier, 0x02);
        _bus.Out8(Mcr, 0x18);
        Assert.Equal(0x02, _bus.In8(Iir) & 0x0F); // pending inside the UART...
        _bus.Out8(Ier, 0x00);
        _bus.Out8(Ier, 0x02);
        Assert.False(Irq4); // ...but OUT2 is forced inactive in loopback
        _bus.Out8(Mcr, 0x08);
        Assert.True(Irq4);
    }

    [Fact]
    public void BreakInLoopbackReportsBreakInterruptWithAZeroCharacter()
    {
        _bus.Out8(Mcr, 0x10);
        _bus.Out8(Ier, 0x04);
        _bus.Out8(Lcr, 0x43);
        Assert.Equal(0x06, _bus.In8(Iir) & 0x0F);
        Assert.Equal(0x71, _bus.In8(Lsr)); // DR | BI | THRE | TEMT
        Assert.Equal(0x00, _bus.In8(Thr));
        Assert.Equal(0x01, _bus.In8(Iir) & 0x0F);
    }

    [Fact]
    public void InputIsHeldDuringLoopbackAndDeliveredAfterIt()
    {
        _bus.Out8(Mcr, 0x12);
        _backend.Send("k");
        Assert.Equal(0, _bus.In8(Lsr) & 0x01);
        _bus.Out8(Mcr, 0x02);
        Assert.Equal((byte)'k', _bus.In8(Thr));
    }

    [Fact]
    public void HostInputWaitsForRtsAndSurvivesLinuxsProbeAndStartup()
    {
        // Typed or piped before the guest booted: nothing may be lost to the driver's FIFO resets and RBR reads.
        _backend.Send("echo hi\n");
        // Linux 6.1, as traced under hv: console setup (DTR, 16450 mode), then autoconfig...
        _bus.Out8(Ier, 0x00);
        _bus.Out8(Fcr, 0x00);
        _bus.Out8(Mcr, 0x01);
        Assert.Equal(0x60, _bus.In8(Lsr)); // DTR alone is no invitation to send
        _bus.Out8(Ier, 0x0F);
        _bus.Out8(Ier, 0x00);
        _bus.Out8(Mcr, 0x1A); // loopback test (RTS inside the loop does not reach the host)
        _bus.In8(Msr);
        _bus.Out8(Mcr, 0x01);
        _bus.Out8(Fcr, 0x01);
        Assert.Equal(0xC0, _bus.In8(Iir) & 0xC0); // FIFOs present: a 16550A
        _bus.Out8(Fcr, 0x07);
        _bus.Out8(Fcr, 0x00);
        _bus.In8(Thr);
        // ...then serial8250_do_startup: clear the FIFOs and the interrupt registers, OUT2, the THRE test, again.
        _bus.Out8(Fcr, 0x01);
        _bus.Out8(Fcr, 0x07);
        _bus.Out8(Fcr, 0x00);
        foreach (ushort port in new[] { Lsr, Thr, Iir, Msr }) _bus.In8(port);
        _bus.Out8(Lcr, 0x03);
        _bus.Out8(Mcr, 0x09);
        _bus.Out8(Ier, 0x02);
        Assert.Equal(0x02, _bus.In8(Iir));
        _bus.Out8(Ier, 0x00);
        foreach (ushort port in new[] { Lsr, Thr, Iir, Msr }) _bus.In8(port);
        _bus.Out8(Ier, 0x05);
        _bus.Out8(Fcr, 0x01);
        _bus.Out8(Fcr, 0x81); // trigger level 8
        Assert.False(Irq4);
        // uart_port_startup raises RTS once the port is ready: now the host sends, at once.
        _bus.Out8(Mcr, 0x0B);
        Assert.True(Irq4);
        Assert.Equal(0xC4, _bus.In8(Iir)); // 8 bytes: at the trigger level
        var received = new List<byte>();
        while ((_bus.In8(Lsr) & 0x01) != 0) received.Add(_bus.In8(Thr));
        Assert.Equal("echo hi\n", System.Text.Encoding.ASCII.GetString(received.ToArray()));
        Assert.False(Irq4);
    }

    [Fact]
    public void DroppingRtsHoldsTheHostBackWithoutLosingInput()
    {
        _bus.Out8(Fcr, 0x01);
        _bus.Out8(Mcr, 0x02);
        var sent = Enumerable.Range(0, 40).Select(i => (byte)('0' + i)).ToArray();
        _backend.Send(sent);
        var received = new List<byte>();
        for (int i = 0; i < 5; i++) received.Add(_bus.In8(Thr));
        _bus.Out8(Mcr, 0x00); // throttled (CRTSCTS): what is in the FIFO stays, nothing more comes
        while ((_bus.In8(Lsr) & 0x01) != 0) received.Add(_bus.In8(Thr));
        Assert.Equal(5 + 16, received.Count); // each read with RTS up refilled the FIFO; then it only drained
        _backend.Send("!"u8);
        Assert.Equal(0, _bus.In8(Lsr) & 0x01);
        _bus.Out8(Mcr, 0x02);
        while ((_bus.In8(Lsr) & 0x01) != 0) received.Add(_bus.In8(Thr));
        Assert.Equal([.. sent, (byte)'!'], received.ToArray());
        Assert.Equal(0, _bus.In8(Lsr) & 0x02); // never an overrun
    }

    [Fact]
    public void RaisingRtsWithInputHeldRaisesTheReceiveInterrupt()
    {
        _bus.Out8(Ier, 0x01);
        _bus.Out8(Mcr, 0x08);
        _backend.Send("x");
        Assert.False(Irq4);
        Assert.Equal(0x01, _bus.In8(Iir));
        _bus.Out8(Mcr, 0x0A);
        Assert.True(Irq4);
        Assert.Equal(0x04, _bus.In8(Iir));
    }

    [Fact]
    public void PollingGuestThatNeverDrivesDtrOrRtsGetsInputFromItsFirstLineStatusRead()
    {
        _backend.Send("\u001b[B"u8); // typed before the guest looked: held, no interrupt source
        Assert.Equal(0x01, _bus.In8(Iir));
        // SeaBIOS's serial console: 8N1 and FIFOs on, MCR never written, then it polls LSR for input.
        _bus.Out8(Lcr, 0x03);
        _bus.Out8(Fcr, 0x01);
        var received = new List<byte>();
        while ((_bus.In8(Lsr) & 0x01) != 0) received.Add(_bus.In8(Thr));
        Assert.Equal("\u001b[B"u8.ToArray(), received.ToArray());
        _backend.Send("\r"u8); // a three-wire line: later input arrives at once
        Assert.Equal(0x61, _bus.In8(Lsr));
        Assert.Equal((byte)'\r', _bus.In8(Thr));
    }

    [Fact]
    public void AGuestThatTakesOverDtrAfterPollingGetsFlowControl()
    {
        Assert.Equal(0x60, _bus.In8(Lsr)); // a firmware polled: three-wire
        _bus.Out8(Mcr, 0x01); // then Linux's console setup raises DTR: the handshake is now RTS/CTS
        _backend.Send("ls\n"u8);
        Assert.Equal(0x60, _bus.In8(Lsr));
        _bus.Out8(Mcr, 0x0B);
        Assert.Equal(0x61, _bus.In8(Lsr));
    }

    [Fact]
    public void ResetForgetsTheHandshakeAndHoldsInputAgain()
    {
        _bus.Out8(Mcr, 0x0B);
        _uart.Reset();
        _backend.Send("x"u8);
        _bus.Out8(Ier, 0x01);
        Assert.Equal(0x01, _bus.In8(Iir)); // held until the rebooted guest shows how it reads the line
        Assert.Equal(0x61, _bus.In8(Lsr)); // polling it: three-wire
    }

    [Fact]
    public void ThreIsRaisedOnTheRisingEdgeOfEtbeiOnly()
    {
        _bus.Out8(Mcr, 0x08);
        _bus.Out8(Ier, 0x02);
        Assert.Equal(0x02, _bus.In8(Iir)); // consumed by this read
        _bus.Out8(Ier, 0x03); // ETBEI stays 1: no new THRE interrupt
        Assert.Equal(0x01, _bus.In8(Iir));
        Assert.False(Irq4);
        _bus.Out8(Ier, 0x01);
        _bus.Out8(Ier, 0x03);
        Assert.True(Irq4);
        Assert.Equal(0x02, _bus.In8(Iir));
    }

    [Fact]
    public void WideAccessesAreSplitIntoByteCyclesAtConsecutivePorts()
    {
        _bus.Out16(Lcr, 0x0803); // LCR = 0x03, MCR = 0x08
        Assert.Equal(0x03, _bus.In8(Lcr));
        Assert.Equal(0x08, _bus.In8(Mcr));
        Assert.Equal(0x6000, _bus.In16(Lsr - 1) & 0xFF00);
    }
}
