using Hypervisor.Machine;

namespace Hypervisor.Cli.Parsing;

/// <summary>Parses --serial stdio|file=PATH|none.</summary>
public static class SerialSpecParser
{
    public static SerialConfig Parse(string spec)
    {
        if (spec == "stdio") return new SerialConfig.Stdio();
        if (spec == "none") return new SerialConfig.None();
        if (spec.StartsWith("file=", StringComparison.Ordinal))
        {
            string path = spec["file=".Length..];
            if (path.Length == 0) throw new UsageException("--serial file= needs a path");
            return new SerialConfig.File(path);
        }
        throw new UsageException($"--serial '{spec}' is not one of stdio, file=PATH, none");
    }
}
