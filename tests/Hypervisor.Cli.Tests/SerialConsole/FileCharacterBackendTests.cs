using Hypervisor.Cli.SerialConsole;

namespace Hypervisor.Cli.Tests.SerialConsole;

public class FileCharacterBackendTests
{
    [Fact]
    public void Each_write_is_in_the_file_at_once_and_an_old_file_is_truncated()
    {
        using var files = new TempFiles();
        string path = files.Write("com1.log", "old content that must go"u8.ToArray());
        using var backend = new FileCharacterBackend(path);

        backend.Write("hv-init: ready\r\n"u8);
        // Another reader (a test waiting for a marker) sees the line while the backend keeps the file open.
        using (var reader = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        using (var text = new StreamReader(reader))
            Assert.Equal("hv-init: ready\r\n", text.ReadToEnd());

        backend.Write("more"u8);
        backend.Dispose();
        Assert.Equal("hv-init: ready\r\nmore", File.ReadAllText(path));
    }
}
