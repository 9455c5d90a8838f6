using Hypervisor.Machine;

namespace Hypervisor.Cli.Parsing;

/// <summary>Parses --disk PATH[,format=raw|qcow2][,readonly[=on|off]].</summary>
public static class DiskSpecParser
{
    public static DiskConfig Parse(string spec)
    {
        IReadOnlyList<string> items = OptionList.Split(spec);
        string path = items[0];
        if (path.Length == 0)
            throw new UsageException($"--disk '{spec}' has no path (expected PATH[,format=raw|qcow2][,readonly])");

        DiskFormat format = DiskFormat.Raw;
        bool readOnly = false;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string item in items.Skip(1))
        {
            (string key, string? value) = OptionList.SplitPair(item);
            if (!seen.Add(key))
                throw new UsageException($"--disk '{spec}': '{key}' is given twice");
            switch (key)
            {
                case "format":
                    format = value switch
                    {
                        "raw" => DiskFormat.Raw,
                        "qcow2" => DiskFormat.Qcow2,
                        _ => throw new UsageException($"--disk '{spec}': format '{value}' is not one of raw, qcow2"),
                    };
                    break;
                case "readonly" or "ro":
                    readOnly = OptionList.ParseBool(value)
                        ?? throw new UsageException($"--disk '{spec}': readonly '{value}' is not on or off");
                    break;
                default:
                    throw new UsageException($"--disk '{spec}': unknown option '{key}' (known: format, readonly)");
            }
        }
        return new DiskConfig(path, format, readOnly);
    }

    /// <summary>True when the spec names a format explicitly, so a qcow2 header in a raw image is intended.</summary>
    public static bool HasExplicitFormat(string spec) =>
        OptionList.Split(spec).Skip(1).Any(item => OptionList.SplitPair(item).Key == "format");
}
