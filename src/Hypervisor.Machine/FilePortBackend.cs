using Hypervisor.Devices.Console;

namespace Hypervisor.Machine;

/// <summary>
/// The host end of a virtio-console port made of files: what the guest writes is appended to the output file
/// (flushed at once, so a test or `tail -f` sees it), and the whole input file is the host's input, handed to
/// the port when it is attached. Without files the port is unconnected: output is discarded, nothing comes in.
/// </summary>
public sealed class FilePortBackend : ICharacterBackend, IDisposable
{
    private readonly FileStream? _output;
    private readonly byte[] _input;

    public FilePortBackend(FileStream? output, byte[]? input)
    {
        _output = output;
        _input = input ?? [];
    }

    /// <summary>Opens (creating or truncating) the output and reads the input now, so a bad path fails before the guest runs.</summary>
    public static FilePortBackend Open(string? outputPath, string? inputPath)
    {
        byte[]? input = inputPath is null ? null : File.ReadAllBytes(inputPath);
        var output = outputPath is null ? null : new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.Read);
        return new FilePortBackend(output, input);
    }

    public void Write(ReadOnlySpan<byte> data)
    {
        if (_output is null) return;
        lock (_output)
        {
            _output.Write(data);
            _output.Flush();
        }
    }

    public void SetReceiver(CharacterReceiver? receiver)
    {
        if (receiver is not null && _input.Length > 0) receiver(_input);
    }

    public void Dispose() => _output?.Dispose();
}
