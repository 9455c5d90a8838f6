using Hypervisor.Devices.Console;

namespace Hypervisor.Cli.SerialConsole;

/// <summary>
/// Serial output to a file (--serial file=PATH), truncated at start and flushed on every write so a test or a
/// `tail -f` sees each line as the guest prints it. A file has no input, so the receiver is never called.
/// </summary>
public sealed class FileCharacterBackend : ICharacterBackend, IDisposable
{
    private readonly object _lock = new();
    private readonly FileStream _stream;

    public FileCharacterBackend(string path)
    {
        _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            _stream.Write(data);
            _stream.Flush();
        }
    }

    public void SetReceiver(CharacterReceiver? receiver)
    {
    }

    public void Dispose()
    {
        lock (_lock) _stream.Dispose();
    }
}
