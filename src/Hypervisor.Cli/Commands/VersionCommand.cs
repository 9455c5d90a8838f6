using System.CommandLine;
using System.Reflection;
using System.Runtime.InteropServices;
using Hypervisor.Kvm;
using Hypervisor.Cli.Host;

namespace Hypervisor.Cli.Commands;

/// <summary>`hv version`: hv's version, the .NET runtime, and which CPU backends can run on this host.</summary>
public sealed class VersionCommand
{
    public VersionCommand(HvEnvironment environment)
    {
        Command = new Command("version", "Show hv's version, the .NET runtime and the usable CPU backends");
        Command.SetAction(_ =>
        {
            Write(environment);
            return 0;
        });
    }

    public Command Command { get; }

    public static string Version =>
        typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(VersionCommand).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    public static void Write(HvEnvironment environment)
    {
        TextWriter output = environment.Output;
        output.WriteLine($"hv {Version}");
        output.WriteLine($"runtime: {RuntimeInformation.FrameworkDescription} on {RuntimeInformation.RuntimeIdentifier}");
        KvmProbeResult kvm = environment.ProbeKvm();
        output.WriteLine($"kvm: {(kvm.Usable ? "usable" : "not usable")} ({kvm.Reason})");
        // Binary translation needs nothing from the host: it is always there.
        output.WriteLine("bt: usable (interpreter, userspace PIC/IOAPIC/LAPIC; runs anywhere)");
        output.WriteLine($"default accelerator: {(kvm.Usable ? "kvm" : "bt")}");
    }
}
