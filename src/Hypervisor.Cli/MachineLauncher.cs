using Hypervisor.Cli.SerialConsole;
using Hypervisor.Devices.Console;
using Hypervisor.Machine;

namespace Hypervisor.Cli;

/// <summary>The production <see cref="MachineRunner"/>: opens the serial console and runs the machine.</summary>
public static class MachineLauncher
{
    public static int Run(MachineConfig config, TextWriter diagnostics)
    {
        ICharacterBackend serial = SerialBackends.Open(config.Serial, () => Quit(diagnostics));
        try
        {
            return VirtualMachine.Run(config, serial, diagnostics);
        }
        finally
        {
            // Puts the terminal back before hv prints its last words or exits.
            (serial as IDisposable)?.Dispose();
        }
    }

    /// <summary>Ctrl-A x, as QEMU's: the user ends the VM at once; exit status 0.</summary>
    private static void Quit(TextWriter diagnostics)
    {
        diagnostics.WriteLine();
        diagnostics.WriteLine("hv: terminated (Ctrl-A x)");
        diagnostics.Flush();
        Environment.Exit(0);
    }
}
