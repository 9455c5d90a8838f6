using Hypervisor.Devices.Console;
using Hypervisor.Devices.Interrupts;
using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Legacy;

/// <summary>
/// COM1 as the BT backend wires it under Linux: IRQ4 through the userspace IOAPIC (ISA edge) to a vCPU that
/// sleeps in HLT on its own thread while host input arrives on another.
/// </summary>
public sealed class Serial16550InterruptPathTests : IDisposable
{
    private const ushort Base = Serial16550.Com1Port;
    private const ushort Rbr = Base, Ier = Base + 1, Iir = Base + 2, Fcr = Base + 2, Lcr = Base + 3, Mcr = Base + 4,
        Lsr = Base + 5;
    private const int Vector = 0x24;

    // Far beyond BtVcpu's 100 ms recheck: a wait that ends is a wakeup, not a timeout.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private readonly ManualClock _clock = new();
    private readonly PortIoBus _ports = new();
    private readonly MmioBus _mmio = new();
    private readonly UserspaceIrqChip _chip;
    private readonly InMemoryCharacterBackend _host = new();
    private readonly Serial16550 _uart;

    public Serial16550InterruptPathTests()
    {
        _chip = new UserspaceIrqChip(_clock, vcpuCount: 1, tscFrequencyHz: 1_000_000_000);
        _chip.RegisterDevices(_ports, _mmio);
        _uart = new Serial16550(Base, Serial16550.Com1Irq, _chip, _host, _clock);
        _uart.RegisterPorts(_ports);

        // Linux in APIC mode: APIC on, PIC masked, pin 4 edge-triggered to APIC 0.
        WriteLapic(LapicOffsets.Svr, 0x1FF);
        WriteLapic(LapicOffsets.LvtLint0, 0x1_0700);
        _ports.Out8(0x21, 0xFF);
        _ports.Out8(0xA1, 0xFF);
        WriteMmio(IoApic.DefaultBaseAddress, 0x11 + 2 * 4);
        WriteMmio(IoApic.DefaultBaseAddress + 0x10, 0);
        WriteMmio(IoApic.DefaultBaseAddress, 0x10 + 2 * 4);
        WriteMmio(IoApic.DefaultBaseAddress + 0x10, Vector);

        // The 8250 driver with the port open: 8N1 at 115200, FIFO trigger 8, RLSI | RDI, DTR | RTS | OUT2.
        _ports.Out8(Lcr, 0x83);
        _ports.Out8(Rbr, 0x01);
        _ports.Out8(Ier, 0x00);
        _ports.Out8(Lcr, 0x03);
        _ports.Out8(Fcr, 0x81);
        _ports.Out8(Ier, 0x05);
        _ports.Out8(Mcr, 0x0B);
    }

    private ICpuInterruptPort Cpu => _chip.PortFor(0);

    public void Dispose()
    {
        _uart.Dispose();
        _chip.Dispose();
    }

    [Fact]
    public void Keys_typed_one_at_a_time_each_wake_the_halted_vcpu()
    {
        foreach (char key in "ls\r")
        {
            var halted = HaltOnAnotherThread();
            _host.Send(key.ToString());
            // Below the trigger level: the character timeout (4 characters at 115200 8N1) raises the interrupt.
            Assert.False(halted.Woken);
            _clock.Advance(4 * 10 * 1_000_000_000L / 115200);
            Assert.True(halted.WaitForWake(), $"'{key}' did not wake the vCPU");
            Assert.Equal($"{key}", Handle());
        }
    }

    [Fact]
    public void A_paste_beyond_the_fifo_arrives_whole_over_successive_interrupts()
    {
        string paste = "echo " + new string('x', 60) + "\r";
        var halted = HaltOnAnotherThread();
        _host.Send(paste);
        var received = new System.Text.StringBuilder();
        Assert.True(halted.WaitForWake());
        received.Append(Handle());
        while (received.Length < paste.Length)
        {
            // The tail below the trigger level comes with the timeout.
            halted = HaltOnAnotherThread();
            _clock.Advance(4 * 10 * 1_000_000_000L / 115200);
            Assert.True(halted.WaitForWake(), $"stuck after {received.Length} bytes");
            received.Append(Handle());
        }
        Assert.Equal(paste, received.ToString());
        Assert.Equal(0, _ports.In8(Lsr) & 0x02); // no overrun
    }

    private HaltedVcpu HaltOnAnotherThread() => new(Cpu);

    /// <summary>A vCPU in HLT with IF = 1 on its own thread, waiting as BtVcpu does.</summary>
    private sealed class HaltedVcpu
    {
        private readonly Thread _thread;
        private volatile bool _woken;

        public HaltedVcpu(ICpuInterruptPort cpu)
        {
            using var started = new ManualResetEventSlim();
            _thread = new Thread(() =>
            {
                started.Set();
                _woken = cpu.WaitForEvent(interruptsEnabled: true, Patience);
            }) { IsBackground = true, Name = "halted vCPU" };
            _thread.Start();
            started.Wait();
        }

        public bool Woken => _woken;

        /// <summary>True when the wait ended with an interrupt to take.</summary>
        public bool WaitForWake() => _thread.Join(Patience + Patience) && _woken;
    }

    /// <summary>The 8250 interrupt handler: take the vector, drain while IIR says pending, EOI.</summary>
    private string Handle()
    {
        Assert.Equal(Vector, Cpu.AcknowledgeInterrupt());
        var text = new System.Text.StringBuilder();
        while ((_ports.In8(Iir) & 0x01) == 0)
            while ((_ports.In8(Lsr) & 0x01) != 0)
                text.Append((char)_ports.In8(Rbr));
        WriteLapic(LapicOffsets.Eoi, 0);
        Assert.False(Cpu.HasPendingInterrupt);
        return text.ToString();
    }

    private void WriteMmio(ulong address, uint value) => _mmio.Write(address, BitConverter.GetBytes(value));

    private void WriteLapic(int offset, uint value) =>
        Assert.True(_chip.LapicFor(0).TryWrite(Lapic.DefaultBaseAddress + (ulong)offset, BitConverter.GetBytes(value)));
}
