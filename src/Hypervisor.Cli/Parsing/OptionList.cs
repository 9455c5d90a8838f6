namespace Hypervisor.Cli.Parsing;

/// <summary>
/// Splits QEMU-style option lists ("first,key=value,flag"): commas separate items and ",," stands for a literal
/// comma, so any path can be written.
/// </summary>
public static class OptionList
{
    public static IReadOnlyList<string> Split(string text)
    {
        var items = new List<string>();
        var current = new System.Text.StringBuilder();
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != ',')
            {
                current.Append(text[i]);
            }
            else if (i + 1 < text.Length && text[i + 1] == ',')
            {
                current.Append(',');
                i++;
            }
            else
            {
                items.Add(current.ToString());
                current.Clear();
            }
        }
        items.Add(current.ToString());
        return items;
    }

    /// <summary>Splits "key=value" (or a bare "flag", whose value is null).</summary>
    public static (string Key, string? Value) SplitPair(string item)
    {
        int equals = item.IndexOf('=');
        return equals < 0 ? (item, null) : (item[..equals], item[(equals + 1)..]);
    }

    /// <summary>QEMU's boolean spellings; null when <paramref name="value"/> is none of them.</summary>
    public static bool? ParseBool(string? value) => value?.ToLowerInvariant() switch
    {
        null or "on" or "yes" or "true" or "1" => true,
        "off" or "no" or "false" or "0" => false,
        _ => null,
    };
}
