using System.CommandLine;
using Hypervisor.Cli.Host;
using Hypervisor.Cli.Parsing;
using Hypervisor.Kvm;
using Hypervisor.Machine;

namespace Hypervisor.Cli.Commands;

/// <summary>`hv run`: parses the machine options into a <see cref="MachineConfig"/>, checks them against the host, runs it.</summary>
public sealed class RunCommand
{
    public const ulong DefaultMemory = 512UL << 20;

    // x86 xAPIC IDs are 8 bits and 0xFF is the broadcast ID, so a PC with an MP table/MADT has at most 255 CPUs.
    public const int MaxCpus = 255;

    // Below 1 MiB there is no room for the real-mode area (IVT, BDA, EBDA) that every PC guest expects.
    public const ulong MinMemory = 1UL << 20;

    private readonly Option<string> _kernel = new("--kernel")
    {
        Description = "Kernel to boot directly: a Linux bzImage or a multiboot (v1) kernel",
        HelpName = "PATH",
    };

    private readonly Option<string> _initrd = new("--initrd")
    {
        Description = "Initial ramdisk for a Linux kernel (a multiboot kernel gets it as its first module)",
        HelpName = "PATH",
    };

    private readonly Option<string> _cmdline = new("--cmdline", "--append")
    {
        Description = "Kernel command line, e.g. \"console=ttyS0\"",
        HelpName = "TEXT",
    };

    private readonly Option<string> _memory = new("--memory", "-m")
    {
        Description = "Guest RAM: 512M, 2G, or a bare number of MiB",
        HelpName = "SIZE",
        DefaultValueFactory = _ => "512M",
    };

    private readonly Option<int> _cpus = new("--cpus", "--smp")
    {
        Description = $"Number of vCPUs (1-{MaxCpus})",
        HelpName = "N",
        DefaultValueFactory = _ => 1,
    };

    private readonly Option<string> _accel = new("--accel")
    {
        Description = "CPU backend: kvm (/dev/kvm), bt (binary translation, runs anywhere), auto (kvm if usable, else bt)",
        DefaultValueFactory = _ => "auto",
    };

    private readonly Option<string[]> _disks = new("--disk")
    {
        Description = "Virtio disk, repeatable: PATH[,format=raw|qcow2][,readonly] (a comma in PATH is written ,,)",
        HelpName = "SPEC",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    private readonly Option<string[]> _nets = new("--net")
    {
        Description = "Network card, repeatable: tap,ifname=NAME | socket,path=DIR (VM-to-VM link) | user; add model=virtio|pcnet, mac=",
        HelpName = "SPEC",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    private readonly Option<string[]> _consolePorts = new("--console-port")
    {
        Description = "Named virtio-console port, repeatable: NAME[,file=OUT][,input=IN] (guest output to OUT, IN's bytes to the guest)",
        HelpName = "SPEC",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    private readonly Option<string> _bios = new("--bios")
    {
        Description = "BIOS image to use instead of hv's own (e.g. /usr/share/seabios/bios.bin)",
        HelpName = "PATH",
    };

    private readonly Option<string> _debugcon = new("--debugcon")
    {
        Description = "Write the firmware's debug log (isa-debugcon, port 0x402; SeaBIOS's log) to PATH",
        HelpName = "PATH",
    };

    private readonly Option<string> _boot = new("--boot")
    {
        Description = "Boot source (default: kernel when --kernel is given, else disk)",
    };

    private readonly Option<string> _serial = new("--serial")
    {
        Description = "COM1: stdio (raw terminal; Ctrl-A x quits, Ctrl-A h for help), file=PATH, or none",
        HelpName = "stdio|file=PATH|none",
        DefaultValueFactory = _ => "stdio",
    };

    private readonly Option<bool> _noReboot = new("--no-reboot")
    {
        Description = "Exit instead of rebooting when the guest resets",
    };

    public RunCommand()
    {
        _accel.AcceptOnlyFromAmong("auto", "kvm", "bt");
        _boot.AcceptOnlyFromAmong("kernel", "disk", "net");
        Command = new Command("run", "Create a virtual machine and run it until the guest powers off")
        {
            _kernel, _initrd, _cmdline, _memory, _cpus, _accel, _disks, _nets, _consolePorts, _bios, _debugcon, _boot, _serial, _noReboot,
        };
    }

    public Command Command { get; }

    /// <summary>
    /// Turns the parsed options into a configuration and checks every file and size against this host.
    /// Throws <see cref="UsageException"/> with a one-line message for anything the user has to fix.
    /// </summary>
    public MachineConfig BuildConfig(ParseResult result, HvEnvironment environment)
    {
        string? kernel = result.GetValue(_kernel);
        string? initrd = result.GetValue(_initrd);
        string? cmdline = result.GetValue(_cmdline);
        string[] diskSpecs = result.GetValue(_disks) ?? [];
        string[] netSpecs = result.GetValue(_nets) ?? [];
        List<ConsolePortConfig> consolePorts = [.. (result.GetValue(_consolePorts) ?? []).Select(ParseAndCheckConsolePort)];

        ulong memory = SizeParser.Parse(result.GetValue(_memory) ?? "512M", "--memory");
        ValidateMemory(memory, environment.HostMemoryTotal());

        int cpus = result.GetValue(_cpus);
        if (cpus < 1 || cpus > MaxCpus)
            throw new UsageException($"--cpus {cpus} is out of range (1-{MaxCpus})");

        Accelerator accelerator = result.GetValue(_accel) switch
        {
            "kvm" => Accelerator.Kvm,
            "bt" => Accelerator.Bt,
            _ => Accelerator.Auto,
        };
        if (accelerator == Accelerator.Kvm)
        {
            // The backend's own check, so the CLI and the backend can never disagree about /dev/kvm.
            KvmProbeResult kvm = environment.ProbeKvm();
            if (!kvm.Usable)
                throw new UsageException(kvm.Reason);
        }

        List<DiskConfig> disks = [.. diskSpecs.Select(ParseAndCheckDisk)];
        List<NetConfig> networks = [.. netSpecs.Select(NetSpecParser.Parse)];
        SerialConfig serial = SerialSpecParser.Parse(result.GetValue(_serial) ?? "stdio");

        BootSource boot = result.GetValue(_boot) switch
        {
            "kernel" => BootSource.Kernel,
            "disk" => BootSource.Disk,
            "net" => BootSource.Net,
            _ => kernel is not null ? BootSource.Kernel
                : disks.Count > 0 ? BootSource.Disk
                : throw new UsageException("nothing to boot: give --kernel PATH, or --disk PATH, or --boot net with --net"),
        };
        ValidateBoot(boot, kernel, initrd, cmdline, disks.Count, networks.Count);

        if (kernel is not null) CheckKernel(kernel);
        if (initrd is not null) InputFiles.RequireReadable(initrd, "--initrd");
        string? bios = result.GetValue(_bios);
        if (bios is not null) InputFiles.RequireReadable(bios, "--bios");
        if (serial is SerialConfig.File file) CheckSerialFile(file.Path);

        return new MachineConfig
        {
            MemoryBytes = memory,
            CpuCount = cpus,
            Accelerator = accelerator,
            Kernel = kernel,
            Initrd = initrd,
            CommandLine = cmdline ?? "",
            Bios = bios,
            DebugConsolePath = result.GetValue(_debugcon),
            Boot = boot,
            Disks = disks,
            Networks = networks,
            // The default (an empty array) unless ports were given, so configs without them compare equal.
            ConsolePorts = consolePorts.Count == 0 ? Array.Empty<ConsolePortConfig>() : consolePorts,
            Serial = serial,
            NoReboot = result.GetValue(_noReboot),
        };
    }

    public static void ValidateMemory(ulong memory, ulong? hostTotal)
    {
        if (memory < MinMemory)
            throw new UsageException($"--memory {SizeParser.Describe(memory)} is too small (at least 1M)");
        if ((memory & 0xFFF) != 0)
            throw new UsageException($"--memory {SizeParser.Describe(memory)} is not a whole number of 4 KiB pages");
        if (hostTotal is ulong total && memory > total)
            throw new UsageException(
                $"--memory {SizeParser.Describe(memory)} is more than this host has ({SizeParser.Describe(total)})");
    }

    private static void ValidateBoot(BootSource boot, string? kernel, string? initrd, string? cmdline, int disks, int nets)
    {
        switch (boot)
        {
            case BootSource.Kernel when kernel is null:
                throw new UsageException("--boot kernel needs --kernel PATH");
            case BootSource.Disk when disks == 0:
                throw new UsageException("--boot disk needs a --disk");
            case BootSource.Net when nets == 0:
                throw new UsageException("--boot net needs a --net");
            case BootSource.Disk or BootSource.Net when kernel is not null:
                throw new UsageException($"--kernel cannot be combined with --boot {boot.ToString().ToLowerInvariant()} (the BIOS loads the kernel then)");
        }
        if (kernel is null && initrd is not null)
            throw new UsageException("--initrd needs --kernel");
        if (kernel is null && cmdline is not null)
            throw new UsageException("--cmdline needs --kernel");
    }

    private static void CheckKernel(string kernel)
    {
        InputFiles.RequireReadable(kernel, "--kernel");
        if (KernelImageProbe.Identify(KernelImageProbe.ReadHead(kernel)) == KernelImageProbe.Kind.Unknown)
            throw new UsageException($"--kernel '{kernel}' is neither a Linux bzImage nor a multiboot kernel");
    }

    private static ConsolePortConfig ParseAndCheckConsolePort(string spec)
    {
        var port = ConsolePortSpecParser.Parse(spec);
        if (port.InputPath is not null) InputFiles.RequireReadable(port.InputPath, "--console-port input=");
        return port;
    }

    private static DiskConfig ParseAndCheckDisk(string spec)
    {
        DiskConfig disk = DiskSpecParser.Parse(spec);
        InputFiles.RequireOpenable(disk.Path, "--disk", disk.ReadOnly ? FileAccess.Read : FileAccess.ReadWrite);
        // Guessing qcow2 from the header would let a guest that writes a qcow2 header into its raw disk make
        // the host open a backing file of the guest's choosing on the next run (QEMU's format-probing CVEs).
        if (!DiskSpecParser.HasExplicitFormat(spec) && InputFiles.LooksLikeQcow2(disk.Path))
            throw new UsageException($"--disk '{disk.Path}' has a qcow2 header; say format=qcow2 (or format=raw to use it as raw)");
        return disk;
    }

    private static void CheckSerialFile(string path)
    {
        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null && !Directory.Exists(directory))
            throw new UsageException($"--serial file='{path}': directory '{directory}' does not exist");
        if (Directory.Exists(path))
            throw new UsageException($"--serial file='{path}' is a directory");
    }
}
