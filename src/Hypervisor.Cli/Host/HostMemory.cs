using System.Globalization;

namespace Hypervisor.Cli.Host;

/// <summary>How much RAM this host has, from /proc/meminfo.</summary>
public static class HostMemory
{
    public const string MemInfoPath = "/proc/meminfo";

    /// <summary>MemTotal in bytes, or null when the file is missing or has no readable MemTotal line.</summary>
    public static ulong? ReadTotal(string path = MemInfoPath)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        return ParseTotal(lines);
    }

    /// <summary>Reads "MemTotal:  16314412 kB" (the kernel always reports kB, meaning KiB).</summary>
    public static ulong? ParseTotal(IEnumerable<string> meminfoLines)
    {
        foreach (string line in meminfoLines)
        {
            if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
            string[] fields = line["MemTotal:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 2 && fields[1] == "kB"
                && ulong.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong kib)
                && kib <= ulong.MaxValue >> 10)
                return kib << 10;
            return null;
        }
        return null;
    }
}
