using Iced.Intel;
using Xunit.Abstractions;

namespace Hypervisor.BinaryTranslation.Tests.Differential;

/// <summary>
/// The interpreter against the host CPU (TESTING.md section 1). The suite runs a fixed seed over every form;
/// <c>HV_DIFF_ITERATIONS=10000000 HV_DIFF_SEED=n dotnet test --filter LongRun</c> is the long tool run.
/// </summary>
public class DifferentialTests(ITestOutputHelper output)
{
    /// <summary>
    /// Runs <paramref name="iterations"/> executions (instances the encoder rejects, e.g. AH with a REX register,
    /// are drawn again) over all forms round-robin; returns (executions, mismatches, first reports).
    /// </summary>
    public static (long Executed, long Mismatches, List<string> Reports, Dictionary<Code, int> PerForm) Campaign(
        long iterations, int seed)
    {
        using var runner = new DifferentialRunner();
        var generator = runner.CreateGenerator(seed);
        var forms = Environment.GetEnvironmentVariable("HV_DIFF_ONLY") is { } only
            ? InstructionForms.All.Where(f => f.ToString().StartsWith(only, StringComparison.Ordinal)).ToList()
            : InstructionForms.All;
        var reports = new List<string>();
        var perForm = new Dictionary<Code, int>();
        long executed = 0, mismatches = 0;
        // HV_DIFF_TRACE=path logs each case before it runs, to find one that kills the host process.
        using var trace = Environment.GetEnvironmentVariable("HV_DIFF_TRACE") is { } path ? new StreamWriter(path) : null;
        for (long i = 0; executed < iterations; i++)
        {
            var code = forms[(int)(i % forms.Count)];
            var test = generator.Generate(code);
            if (test == null) continue;
            if (trace != null)
            {
                trace.WriteLine(test);
                trace.Flush();
            }
            string? report = runner.Run(test);
            executed++;
            perForm[code] = perForm.GetValueOrDefault(code) + 1;
            if (report == null) continue;
            mismatches++;
            if (reports.Count < 20) reports.Add(report);
        }
        return (executed, mismatches, reports, perForm);
    }

    [Fact]
    public void EveryFormMatchesTheHostCpu()
    {
        var forms = InstructionForms.All;
        var (executed, mismatches, reports, perForm) = Campaign(forms.Count * 60L, seed: 20240601);
        foreach (var r in reports) output.WriteLine(r);
        output.WriteLine($"{executed} executions over {perForm.Count} of {forms.Count} forms, {mismatches} mismatches");
        Assert.Equal(0, mismatches);
        var never = forms.Where(f => !perForm.ContainsKey(f)).ToList();
        Assert.True(never.Count == 0, "forms never generated: " + string.Join(", ", never));
        Assert.True(forms.Count > 550, $"only {forms.Count} forms");
    }

    [Fact]
    public void LongRun()
    {
        long iterations = long.TryParse(Environment.GetEnvironmentVariable("HV_DIFF_ITERATIONS"), out var n) ? n : 20_000;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("HV_DIFF_SEED"), out var s) ? s : 7;
        var sw = global::System.Diagnostics.Stopwatch.StartNew();
        var (executed, mismatches, reports, perForm) = Campaign(iterations, seed);
        foreach (var r in reports) output.WriteLine(r);
        output.WriteLine($"seed {seed}: {executed} executions over {perForm.Count} forms in {sw.Elapsed}, {mismatches} mismatches");
        Console.WriteLine($"differential: seed {seed}: {executed} executions over {perForm.Count} forms in {sw.Elapsed}, {mismatches} mismatches");
        Assert.Equal(0, mismatches);
    }
}
