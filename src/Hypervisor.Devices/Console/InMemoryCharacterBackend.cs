using System.Text;

namespace Hypervisor.Devices.Console;

/// <summary>
/// A character backend in memory: collects what the guest writes and lets a test (or an embedding host) send
/// input. Input sent before a device attaches is held and delivered on attach, as a terminal would buffer it.
/// </summary>
public sealed class InMemoryCharacterBackend : ICharacterBackend
{
    private readonly object _lock = new();
    private readonly List<byte> _output = [];
    private readonly List<byte> _heldInput = [];
    private CharacterReceiver? _receiver;

    /// <summary>Raised after each <see cref="Write"/> with the bytes written.</summary>
    public event Action<byte[]>? Written;

    public byte[] Output
    {
        get
        {
            lock (_lock) return [.. _output];
        }
    }

    /// <summary>The output decoded as Latin-1, so every byte maps to one character.</summary>
    public string OutputText => Encoding.Latin1.GetString(Output);

    public void ClearOutput()
    {
        lock (_lock) _output.Clear();
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        byte[] copy = data.ToArray();
        lock (_lock) _output.AddRange(copy);
        Written?.Invoke(copy);
    }

    /// <summary>
    /// Attaches the device and hands it the held input. Delivery happens under the lock, so held bytes go before
    /// anything sent meanwhile from another thread, and after a detach the device gets nothing more.
    /// </summary>
    public void SetReceiver(CharacterReceiver? receiver)
    {
        lock (_lock)
        {
            _receiver = receiver;
            if (receiver is null || _heldInput.Count == 0) return;
            receiver(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_heldInput));
            _heldInput.Clear();
        }
    }

    /// <summary>Sends host input to the attached device (or holds it until one attaches).</summary>
    public void Send(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (_receiver is null) _heldInput.AddRange(data);
            else _receiver(data);
        }
    }

    public void Send(string text) => Send(Encoding.Latin1.GetBytes(text));
}
