using Hypervisor.Cli.SerialConsole;
using Hypervisor.Machine;

namespace Hypervisor.Cli.Tests.SerialConsole;

public class SerialBackendsTests
{
    [Fact]
    public void File_and_none_get_their_backends()
    {
        using var files = new TempFiles();
        string path = files.PathOf("com1.log");
        var file = Assert.IsType<FileCharacterBackend>(SerialBackends.Open(new SerialConfig.File(path), () => { }));
        file.Write("x"u8);
        file.Dispose();
        Assert.Equal("x", File.ReadAllText(path));

        var none = Assert.IsType<NullCharacterBackend>(SerialBackends.Open(new SerialConfig.None(), () => { }));
        none.Write("dropped"u8);
    }
}
