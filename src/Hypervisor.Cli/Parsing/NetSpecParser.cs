using System.Text.RegularExpressions;
using Hypervisor.Machine;

namespace Hypervisor.Cli.Parsing;

/// <summary>
/// Parses --net BACKEND[,key=value...][,model=virtio|pcnet]. Backends: user (NAT with DHCP/TFTP), tap
/// (ifname=), socket (path= of a unix socket shared by VMs). Other keys pass through to the backend.
/// </summary>
public static partial class NetSpecParser
{
    public static readonly IReadOnlyList<string> Backends = ["user", "tap", "socket"];
    public static readonly IReadOnlyList<string> Models = ["virtio", "pcnet"];

    [GeneratedRegex("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex MacPattern();

    public static NetConfig Parse(string spec)
    {
        IReadOnlyList<string> items = OptionList.Split(spec);
        string backend = items[0];
        if (!Backends.Contains(backend))
            throw new UsageException($"--net '{spec}': backend '{backend}' is not one of {string.Join(", ", Backends)}");

        string model = "virtio";
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string item in items.Skip(1))
        {
            (string key, string? value) = OptionList.SplitPair(item);
            if (key.Length == 0 || value is null)
                throw new UsageException($"--net '{spec}': '{item}' is not key=value");
            if (key == "model")
            {
                if (!Models.Contains(value))
                    throw new UsageException($"--net '{spec}': model '{value}' is not one of {string.Join(", ", Models)}");
                model = value;
                continue;
            }
            if (!options.TryAdd(key, value))
                throw new UsageException($"--net '{spec}': '{key}' is given twice");
        }

        if (options.TryGetValue("mac", out string? mac) && !MacPattern().IsMatch(mac))
            throw new UsageException($"--net '{spec}': mac '{mac}' is not six hex bytes like 52:54:00:12:34:56");
        string? required = backend switch
        {
            "tap" => "ifname",
            "socket" => "path",
            _ => null,
        };
        if (required is not null && !options.ContainsKey(required))
            throw new UsageException($"--net '{spec}': the {backend} backend needs {required}=");
        return new NetConfig(backend, options, model);
    }
}
