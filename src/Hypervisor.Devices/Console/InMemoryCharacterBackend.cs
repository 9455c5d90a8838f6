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

    public void SetReceiver(CharacterReceiver? receiver)
    {
        byte[] held;
        lock (_lock)
        {
            _receiver = receiver;
            if (receiver is null || _heldInput.Count == 0) return;
            held = [.. _heldInput];
            _heldInput.Clear();
        }
        receiver(held);
    }

    /// <summary>Sends host input to the attached device (or holds it until one attaches).</summary>
    public void Send(ReadOnlySpan<byte> data)
    {
        CharacterReceiver? receiver;
        lock (_lock)
        {
            receiver = _receiver;
            if (receiver is null)
            {
                _heldInput.AddRange(data.ToArray());
                return;
            }
        }
        receiver(data);
    }

    public void Send(string text) => Send(Encoding.Latin1.GetBytes(text));
}
