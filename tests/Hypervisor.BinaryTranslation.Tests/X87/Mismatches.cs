using global::System.Text;

namespace Hypervisor.BinaryTranslation.Tests.X87;

/// <summary>Collects differential mismatches and fails with the first few, so one run shows the whole picture.</summary>
internal sealed class Mismatches(string what)
{
    private readonly StringBuilder _first = new();
    private int _count;
    private long _cases;

    public void Case() => _cases++;

    public long Cases => _cases;

    public void Add(string description)
    {
        if (_count++ < 25)
            _first.AppendLine(description);
    }

    public void AssertNone()
    {
        // The long tool run (X87_CASE_LOG set) records how many cases each differential test compared.
        string? caseLog = Environment.GetEnvironmentVariable("X87_CASE_LOG");
        if (caseLog is not null)
        {
            lock (typeof(Mismatches))
                File.AppendAllText(caseLog, $"{what}\t{_cases}\t{_count}\n");
        }
        Assert.True(_cases > 0, $"{what}: no cases ran");
        Assert.True(_count == 0, $"{what}: {_count} mismatches in {_cases} cases\n{_first}");
    }

    /// <summary>
    /// Case counts scale with X87_CASE_MULTIPLIER for the long tool run:
    /// X87_CASE_MULTIPLIER=25 X87_CASE_LOG=/tmp/x87-cases.tsv dotnet test tests/Hypervisor.BinaryTranslation.Tests --filter FullyQualifiedName~X87
    /// </summary>
    public static int Scale(int suiteCount)
    {
        string? m = Environment.GetEnvironmentVariable("X87_CASE_MULTIPLIER");
        return m is not null && int.TryParse(m, out int k) && k > 0 ? checked(suiteCount * k) : suiteCount;
    }
}
