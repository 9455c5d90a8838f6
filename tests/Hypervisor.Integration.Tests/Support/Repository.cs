namespace Hypervisor.Integration.Tests.Support;

/// <summary>Locates the checkout the tests run from, for the guest sources and scripts in it.</summary>
public static class Repository
{
    public static readonly string Root = Find();

    private static string Find()
    {
        string dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "Hypervisor.sln")))
            dir = Path.GetDirectoryName(dir) ?? throw new DirectoryNotFoundException("repository root (Hypervisor.sln) not found");
        return dir;
    }
}
