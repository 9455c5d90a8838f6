using Hypervisor.Machine;

namespace Hypervisor.Cli.Parsing;

/// <summary>
/// Parses --console-port NAME[,file=OUT][,input=IN]: a named virtio-console port (Linux: /dev/vportNpM, its name
/// in /sys/class/virtio-ports/*/name) whose guest output goes to OUT and whose host input is the content of IN.
/// </summary>
public static class ConsolePortSpecParser
{
    public static ConsolePortConfig Parse(string spec)
    {
        IReadOnlyList<string> items = OptionList.Split(spec);
        string name = items[0];
        if (name.Length == 0 || name.Length > 255 || name.Contains('=') || name.Contains('/') || name.Any(char.IsWhiteSpace))
            throw new UsageException($"--console-port '{spec}': the port name comes first: 1 to 255 characters without '=', '/' or spaces");
        string? output = null, input = null;
        foreach (string item in items.Skip(1))
        {
            (string key, string? value) = OptionList.SplitPair(item);
            if (value is null || value.Length == 0)
                throw new UsageException($"--console-port '{spec}': '{item}' is not key=value");
            switch (key)
            {
                case "file" when output is null:
                    output = value;
                    break;
                case "input" when input is null:
                    input = value;
                    break;
                case "file" or "input":
                    throw new UsageException($"--console-port '{spec}': '{key}' is given twice");
                default:
                    throw new UsageException($"--console-port '{spec}': unknown option '{key}' (file=, input=)");
            }
        }
        return new ConsolePortConfig(name, output, input);
    }
}
