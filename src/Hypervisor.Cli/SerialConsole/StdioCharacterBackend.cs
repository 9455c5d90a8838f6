using System.Runtime.InteropServices;
using Hypervisor.Devices.Console;
using Tmds.Linux;

namespace Hypervisor.Cli.SerialConsole;

/// <summary>
/// The serial console on hv's own stdin/stdout. On a terminal: raw mode (restored on exit, on Dispose and on
/// SIGTERM/SIGHUP/SIGQUIT) and the Ctrl-A escapes of <see cref="EscapeSequence"/>. Otherwise (a pipe, a file)
/// bytes pass through unchanged and end of input simply stops input.
/// <para>
/// Input that arrives before the device attaches is kept and handed over first on attach; past
/// <see cref="MaxHeldInput"/> the input thread stops reading until then, so a long script piped into hv waits
/// in the pipe instead of being cut. Once attached, the device holds what its receiver cannot take yet.
/// </para>
/// </summary>
public sealed unsafe class StdioCharacterBackend : ICharacterBackend, IDisposable
{
    /// <summary>Input read before the device attaches that is kept in memory; more waits unread.</summary>
    internal const int MaxHeldInput = 4096;

    private readonly object _lock = new();
    private readonly int _inputFd;
    private readonly int _outputFd;
    private readonly Action _quit;
    private readonly TerminalMode? _terminal;
    private readonly EscapeSequence? _escape;
    private readonly List<PosixSignalRegistration> _signals = [];
    private readonly List<byte> _heldInput = [];
    private readonly Thread _reader;
    private CharacterReceiver? _receiver;
    private bool _disposed;

    /// <param name="quit">Called on the input thread when the user types Ctrl-A x; it is expected not to return.</param>
    public StdioCharacterBackend(Action quit) : this(0, 1, quit)
    {
    }

    /// <summary>A console on other descriptors than stdin/stdout (tests use a pipe). The descriptors stay the caller's.</summary>
    public StdioCharacterBackend(int inputFd, int outputFd, Action quit)
    {
        _inputFd = inputFd;
        _outputFd = outputFd;
        _quit = quit;
        _terminal = TerminalMode.EnterRaw(inputFd);
        if (_terminal is not null)
        {
            _escape = new EscapeSequence();
            AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
            // Not cancelling lets the signal's usual termination go on, after the terminal is back.
            foreach (PosixSignal signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP, PosixSignal.SIGQUIT, PosixSignal.SIGINT })
                _signals.Add(PosixSignalRegistration.Create(signal, _ => _terminal.Restore()));
        }
        _reader = new Thread(ReadInput) { IsBackground = true, Name = "hv stdio input" };
        _reader.Start();
    }

    /// <summary>True when stdin is a terminal in raw mode (and Ctrl-A escapes are active).</summary>
    public bool IsInteractive => _terminal is not null;

    public void Write(ReadOnlySpan<byte> data)
    {
        fixed (byte* start = data)
        {
            int done = 0;
            while (done < data.Length)
            {
                long written = LibC.write(_outputFd, start + done, (size_t)(data.Length - done));
                if (written < 0)
                {
                    if (Errno == LibC.EINTR || Errno == LibC.EAGAIN) continue;
                    return; // stdout closed (a pipe whose reader went away): the guest keeps running unheard.
                }
                done += (int)written;
            }
        }
    }

    /// <summary>
    /// Attaches the device and hands it the input held so far. Delivery happens under the backend's lock, so
    /// held bytes go first, and once a detach returns the device gets nothing more.
    /// </summary>
    public void SetReceiver(CharacterReceiver? receiver)
    {
        lock (_lock)
        {
            _receiver = receiver;
            if (receiver is null) return;
            Monitor.PulseAll(_lock); // an input thread waiting for room can go on
            if (_heldInput.Count == 0) return;
            receiver(CollectionsMarshal.AsSpan(_heldInput));
            _heldInput.Clear();
        }
    }

    /// <summary>Waits for the input thread to see end of input (tests close their pipe, then wait).</summary>
    internal bool WaitForEndOfInput(TimeSpan timeout) => _reader.Join(timeout);

    private static int Errno => Marshal.GetLastPInvokeError() is var e && e != 0 ? e : LibC.errno;

    private void ReadInput()
    {
        byte[] buffer = new byte[256];
        var toGuest = new List<byte>(256);
        while (true)
        {
            long count;
            fixed (byte* p = buffer)
                count = LibC.read(_inputFd, p, (size_t)buffer.Length);
            if (count < 0 && Errno == LibC.EINTR) continue;
            if (count <= 0) return; // end of input or stdin closed: the guest just gets no more keys

            toGuest.Clear();
            if (_escape is null)
            {
                toGuest.AddRange(buffer.AsSpan(0, (int)count));
            }
            else
            {
                foreach (EscapeCommand command in _escape.Process(buffer.AsSpan(0, (int)count), toGuest))
                {
                    switch (command)
                    {
                        case EscapeCommand.Quit:
                            Deliver(toGuest);
                            _terminal?.Restore();
                            _quit();
                            return;
                        case EscapeCommand.Help:
                            Write(System.Text.Encoding.ASCII.GetBytes(EscapeSequence.HelpText));
                            break;
                    }
                }
            }
            if (!Deliver(toGuest)) return;
        }
    }

    /// <summary>
    /// Hands <paramref name="bytes"/> to the device, or holds them until it attaches; with the hold full, waits
    /// for the attach (back-pressure on the input). False when the backend was disposed meanwhile.
    /// </summary>
    private bool Deliver(List<byte> bytes)
    {
        if (bytes.Count == 0) return true;
        lock (_lock)
        {
            while (_receiver is null && !_disposed && _heldInput.Count > 0 &&
                   _heldInput.Count + bytes.Count > MaxHeldInput)
                Monitor.Wait(_lock);
            if (_disposed) return false;
            if (_receiver is null) _heldInput.AddRange(bytes);
            else _receiver(CollectionsMarshal.AsSpan(bytes));
            return true;
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => _terminal?.Restore();

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _signals) registration.Dispose();
        _signals.Clear();
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        _terminal?.Restore();
        lock (_lock)
        {
            _receiver = null;
            _disposed = true;
            Monitor.PulseAll(_lock);
        }
    }
}
