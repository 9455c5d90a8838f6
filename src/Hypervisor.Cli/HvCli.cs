using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using Hypervisor.Cli.Commands;
using Hypervisor.Cli.Parsing;
using Hypervisor.Machine;
using Hypervisor.Platform.Hypervisor;

namespace Hypervisor.Cli;

/// <summary>
/// The hv command line: `hv run`, `hv version`, `hv --help`. Exit status: what the machine returns (0 when the
/// guest powers off, (v &lt;&lt; 1) | 1 after an isa-debug-exit write of v), 2 for a usage or input error with
/// one line on stderr, 1 for an unexpected failure.
/// </summary>
public static partial class HvCli
{
    public const int UsageError = 2;
    public const int InternalError = 1;

    /// <summary>Set to get the full exception for an internal error instead of one line.</summary>
    public const string DebugVariable = "HV_DEBUG";

    public static int Invoke(string[] args, HvEnvironment environment)
    {
        var run = new RunCommand();
        var version = new VersionCommand(environment);
        var root = new RootCommand("hv: an x86-64 PC virtual machine monitor with a KVM and a binary-translation CPU backend")
        {
            run.Command,
            version.Command,
        };
        run.Command.SetAction(result => environment.RunMachine(run.BuildConfig(result, environment), environment.Error));

        ParseResult parsed = root.Parse(args);
        // Help and --version clear parse errors themselves; anything else with an error is a usage error.
        bool clearsErrors = parsed.Action is CommandLineAction { ClearsParseErrors: true };
        if (parsed.Errors.Count > 0 && !clearsErrors)
        {
            // "Required command was not provided" comes first for `hv bogus`; the unknown word is the news.
            ParseError error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal))
                ?? parsed.Errors[0];
            string help = parsed.CommandResult.Command == root ? "hv --help" : $"hv {parsed.CommandResult.Command.Name} --help";
            return Fail(environment, $"{error.Message.TrimEnd('.')} (see {help})");
        }

        var invocation = new InvocationConfiguration
        {
            Output = environment.Output,
            Error = environment.Error,
            // hv reports failures itself, as one line; the default handler prints stack traces.
            EnableDefaultExceptionHandler = false,
        };
        try
        {
            return parsed.Invoke(invocation);
        }
        catch (UsageException e)
        {
            return Fail(environment, e.Message);
        }
        catch (MachineConfigurationException e)
        {
            return Fail(environment, e.Message);
        }
        catch (AccelerationUnavailableException e)
        {
            return Fail(environment, e.Message);
        }
        catch (OutOfMemoryException e)
        {
            // Reserving guest RAM failed (mmap refused the size): the user asked for more than the host gives.
            return Fail(environment, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A file that passed validation went away or turned unreadable while the machine opened it.
            return Fail(environment, e.Message);
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable(DebugVariable) is null or "" or "0")
        {
            environment.Error.WriteLine($"hv: internal error: {OneLine(e.Message)} ({e.GetType().Name}; set {DebugVariable}=1 for details)");
            return InternalError;
        }
    }

    private static int Fail(HvEnvironment environment, string message)
    {
        environment.Error.WriteLine($"hv: error: {OneLine(message)}");
        return UsageError;
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    /// <summary>Parser messages can span lines (lists of allowed values); the user gets one line.</summary>
    public static string OneLine(string message) => Whitespace().Replace(message, " ").Trim();
}
