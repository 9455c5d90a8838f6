using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Time;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// Intel 8254 programmable interval timer at 0x40-0x43, clocked at 1.193182 MHz as on every PC. Counter 0's OUT
/// drives IRQ0; counter 1 was DRAM refresh; counter 2 feeds the speaker and is gated and read through port 0x61
/// (<see cref="SystemControlPortB"/>). Counts are computed from the virtual clock, and a timer is armed only for
/// counter 0's next output edge.
/// </summary>
public sealed class Pit8254 : IBusDevice, IDisposable
{
    public const ushort BasePort = 0x40;
    public const ushort PortCount = 4;
    public const long ClockHz = 1_193_182;
    public const int Irq = 0;

    private const int ControlPort = 3;

    private readonly object _lock = new();
    private readonly IInterruptController _interrupts;
    private readonly VirtualClock _clock;
    private readonly IVirtualTimer _timer;
    private readonly Pit8254Counter[] _counters;
    private bool _irqLevel;
    private bool _scheduledEventIsPulse;
    private bool _disposed;

    public Pit8254(IInterruptController interrupts, VirtualClock clock)
    {
        _interrupts = interrupts;
        _clock = clock;
        _timer = clock.CreateTimer(OnTimer);
        // On the PC the gates of counters 0 and 1 are tied high; counter 2's comes from port 0x61 bit 0.
        _counters = [new(gateInitiallyHigh: true), new(gateInitiallyHigh: true), new(gateInitiallyHigh: false)];
    }

    public void RegisterPorts(PortIoBus bus) => bus.Register(BasePort, PortCount, this, "8254 PIT");

    /// <summary>OUT of <paramref name="counter"/> now (port 0x61 bit 5 reads counter 2's).</summary>
    public bool GetOutput(int counter)
    {
        lock (_lock)
        {
            long now = Now;
            var c = _counters[counter];
            c.Sync(now);
            return c.Out(now);
        }
    }

    public bool GetGate(int counter)
    {
        lock (_lock) return _counters[counter].Gate;
    }

    public void SetGate(int counter, bool level)
    {
        lock (_lock)
        {
            _counters[counter].SetGate(level, Now);
            if (counter == 0) UpdateIrqAndSchedule();
        }
    }

    /// <summary>Machine reset: counters unprogrammed. Gates are inputs; their drivers (port 0x61) reset them.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            foreach (var c in _counters) c.Reset();
            UpdateIrqAndSchedule();
        }
    }

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            long now = Now;
            for (int i = 0; i < data.Length; i++)
            {
                ulong port = offset + (ulong)i;
                // The control word register cannot be read (datasheet "Read operations").
                data[i] = port < ControlPort ? _counters[port].Read(now) : (byte)0xFF;
            }
        }
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            long now = Now;
            for (int i = 0; i < data.Length && offset + (ulong)i < PortCount; i++)
            {
                ulong port = offset + (ulong)i;
                if (port == ControlPort) WriteControl(data[i], now);
                else _counters[port].Write(data[i], now);
            }
            UpdateIrqAndSchedule();
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            _timer.Dispose();
        }
    }

    private long Now => TickAt(_clock.NowNanoseconds);

    private static long TickAt(long nanoseconds) => (long)((Int128)nanoseconds * ClockHz / 1_000_000_000);

    /// <summary>The first clock time at which <see cref="TickAt"/> reaches <paramref name="tick"/>.</summary>
    private static long NanosecondsAt(long tick) => (long)(((Int128)tick * 1_000_000_000 + ClockHz - 1) / ClockHz);

    private void WriteControl(byte value, long now)
    {
        int select = value >> 6;
        if (select == 3)
        {
            // Read-back: bit 5 = !COUNT, bit 4 = !STATUS, bits 3-1 select counters 2, 1, 0.
            for (int counter = 0; counter < 3; counter++)
            {
                if ((value & (2 << counter)) == 0) continue;
                if ((value & 0x10) == 0) _counters[counter].LatchStatus(now);
                if ((value & 0x20) == 0) _counters[counter].LatchCount(now);
            }
            return;
        }
        int access = (value >> 4) & 3;
        if (access == 0) _counters[select].LatchCount(now);
        else _counters[select].Program(access, (value >> 1) & 7, (value & 1) != 0, now);
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            if (_disposed) return;
            if (_scheduledEventIsPulse)
            {
                // OUT was low for one CLK (838 ns) and has risen again; the PIC latches the rising edge.
                if (_irqLevel) _interrupts.SetIrq(Irq, false);
                _interrupts.SetIrq(Irq, true);
                _irqLevel = true;
            }
            UpdateIrqAndSchedule();
        }
    }

    private void UpdateIrqAndSchedule()
    {
        long now = Now;
        var counter = _counters[0];
        counter.Sync(now);
        bool level = counter.Out(now);
        if (level != _irqLevel)
        {
            _irqLevel = level;
            _interrupts.SetIrq(Irq, level);
        }
        var next = counter.NextOutputEvent(now);
        if (next is { } e)
        {
            _scheduledEventIsPulse = e.Pulse;
            _timer.ArmAt(NanosecondsAt(e.Tick));
        }
        else
        {
            _timer.Disarm();
        }
    }
}
