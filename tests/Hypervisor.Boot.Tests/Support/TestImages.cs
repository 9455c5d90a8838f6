namespace Hypervisor.Boot.Tests.Support;

/// <summary>
/// Guest images built by images/build.sh from Debian packages: images/out under the repository root, or the
/// directory HV_IMAGES names. CI builds them before the tests, so a missing image is a failure, not a skip.
/// </summary>
public static class TestImages
{
    public static string Directory
    {
        get
        {
            string? fromEnvironment = Environment.GetEnvironmentVariable("HV_IMAGES");
            if (!string.IsNullOrEmpty(fromEnvironment)) return fromEnvironment;
            return Path.Combine(RepositoryRoot(), "images", "out");
        }
    }

    /// <summary>The Debian 6.1 kernel (bzImage).</summary>
    public static string Vmlinuz => Require("vmlinuz");

    private static string Require(string name)
    {
        string path = Path.Combine(Directory, name);
        if (!File.Exists(path))
            Assert.Fail($"{path} is missing: run images/build.sh (or set HV_IMAGES to the directory holding {name})");
        return path;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Hypervisor.sln"))) return dir.FullName;
        Assert.Fail($"no Hypervisor.sln above {AppContext.BaseDirectory}; set HV_IMAGES to the images directory");
        return "";
    }
}
