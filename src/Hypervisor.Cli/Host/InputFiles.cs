using Hypervisor.Cli.Parsing;

namespace Hypervisor.Cli.Host;

/// <summary>Checks that the files a user names exist and can be opened the way the VM will open them.</summary>
public static class InputFiles
{
    public static void RequireReadable(string path, string what) => RequireOpenable(path, what, FileAccess.Read);

    public static void RequireOpenable(string path, string what, FileAccess access)
    {
        if (Directory.Exists(path))
            throw new UsageException($"{what} '{path}' is a directory, not a file");
        if (!File.Exists(path))
            throw new UsageException($"{what} '{path}' does not exist");
        try
        {
            using var stream = new FileStream(path, FileMode.Open, access, FileShare.ReadWrite);
        }
        catch (UnauthorizedAccessException)
        {
            string mode = access == FileAccess.Read ? "readable" : "writable (add ,readonly to use it read-only)";
            throw new UsageException($"{what} '{path}' is not {mode}");
        }
        catch (IOException e)
        {
            throw new UsageException($"{what} '{path}' cannot be opened: {e.Message}");
        }
    }

    /// <summary>True when the file starts with the qcow2 magic "QFI\xfb".</summary>
    public static bool LooksLikeQcow2(string path)
    {
        using FileStream stream = File.OpenRead(path);
        Span<byte> magic = stackalloc byte[4];
        return stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4
            && magic.SequenceEqual((ReadOnlySpan<byte>)[0x51, 0x46, 0x49, 0xFB]);
    }
}
