using System.Diagnostics;

namespace Hypervisor.Tests.Shared;

/// <summary>
/// Builds guest-drivers/testguest (nasm + ld) into a temporary directory, once per test run. Compiled into the test
/// projects that run the guests themselves (linked source: the projects share no test library).
/// </summary>
internal static class TestGuestBuild
{
    private static readonly Lazy<string> Built = new(Build);

    /// <summary>The path of the built guest <paramref name="guest"/> (its ELF, e.g. "modes" -> modes.elf).</summary>
    public static string PathOf(string guest) => Path.Combine(Built.Value, guest + ".elf");

    private static string Build()
    {
        string repo = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(repo, "Hypervisor.sln")))
            repo = Path.GetDirectoryName(repo) ?? throw new DirectoryNotFoundException("repository root not found");
        string outDir = Directory.CreateTempSubdirectory("hv-testguest-").FullName;
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(repo, "guest-drivers", "testguest", "build.sh"));
        psi.ArgumentList.Add(outDir);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"testguest build failed (needs nasm, ld): {stderr.Result}");
        return outDir;
    }
}
