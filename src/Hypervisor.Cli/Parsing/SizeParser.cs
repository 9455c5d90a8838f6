using System.Globalization;
using System.Text.RegularExpressions;

namespace Hypervisor.Cli.Parsing;

/// <summary>
/// Memory sizes as QEMU's -m takes them: a number with an optional binary suffix (B, K, M, G, T; "KiB"/"KB"
/// spellings too), where a bare number means MiB. Fractions are allowed when they come out as whole bytes
/// (1.5G).
/// </summary>
public static partial class SizeParser
{
    [GeneratedRegex(@"^(?<number>[0-9]+(\.[0-9]+)?)\s*(?:(?<unit>[kmgt])(?:i?b)?|(?<unit>b))?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SizePattern();

    /// <summary>Parses <paramref name="text"/> into bytes; throws <see cref="UsageException"/> naming <paramref name="what"/>.</summary>
    public static ulong Parse(string text, string what)
    {
        Match match = SizePattern().Match(text.Trim());
        if (!match.Success)
            throw new UsageException($"{what} '{text}' is not a size (examples: 512M, 2G, 1024 for MiB)");

        int shift = match.Groups["unit"].Value.ToUpperInvariant() switch
        {
            "B" => 0,
            "K" => 10,
            "" or "M" => 20,
            "G" => 30,
            "T" => 40,
            _ => throw new UsageException($"{what} '{text}' has an unknown unit"),
        };
        if (!decimal.TryParse(match.Groups["number"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal number))
            throw new UsageException($"{what} '{text}' is too large");

        decimal bytes;
        try
        {
            bytes = number * (decimal)(1UL << shift);
        }
        catch (OverflowException)
        {
            throw new UsageException($"{what} '{text}' is too large");
        }
        if (bytes > ulong.MaxValue)
            throw new UsageException($"{what} '{text}' is too large");
        if (bytes != decimal.Truncate(bytes))
            throw new UsageException($"{what} '{text}' is not a whole number of bytes");
        if (bytes == 0)
            throw new UsageException($"{what} must be greater than zero");
        return (ulong)bytes;
    }

    /// <summary>Formats a byte count the way the parser reads it back, in the largest exact unit.</summary>
    public static string Format(ulong bytes)
    {
        string[] units = ["B", "K", "M", "G", "T"];
        int unit = 0;
        while (unit < units.Length - 1 && bytes != 0 && (bytes & 1023) == 0)
        {
            bytes >>= 10;
            unit++;
        }
        return bytes.ToString(CultureInfo.InvariantCulture) + units[unit];
    }

    /// <summary>A byte count for people: one decimal in the largest unit that keeps it at least 1.</summary>
    public static string Describe(ulong bytes)
    {
        string[] units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int unit = 0;
        while (unit < units.Length - 1 && value >= 1024)
        {
            value /= 1024;
            unit++;
        }
        return unit == 0 ? $"{bytes} bytes" : value.ToString("0.#", CultureInfo.InvariantCulture) + " " + units[unit];
    }
}
