using Hypervisor.Integration.Tests.Support;

namespace Hypervisor.Integration.Tests.Guests;

/// <summary>Builds guest-drivers/testguest once per test run (nasm + ld) into a temporary directory.</summary>
public static class TestGuestBuild
{
    private static readonly Lazy<string> Built = new(Build);

    public static string PathOf(string guest) => Path.Combine(Built.Value, guest + ".elf");

    private static string Build()
    {
        string outDir = Directory.CreateTempSubdirectory("hv-testguest-").FullName;
        var result = ProcessRun.Run("bash",
            [Path.Combine(Repository.Root, "guest-drivers", "testguest", "build.sh"), outDir], TimeSpan.FromMinutes(2));
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"testguest build failed (needs nasm and ld): {result}");
        return outDir;
    }
}
