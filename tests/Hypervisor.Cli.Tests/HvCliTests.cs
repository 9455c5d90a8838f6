using Hypervisor.Kvm;
using Hypervisor.Cli.Host;
using Hypervisor.Machine;
using Hypervisor.Platform.Hypervisor;

namespace Hypervisor.Cli.Tests;

/// <summary>The hv command in-process: what it hands the machine, what it prints, and its exit status.</summary>
public sealed class HvCliTests : IDisposable
{
    private readonly TempFiles _files = new();
    private readonly StringWriter _output = new();
    private readonly StringWriter _error = new();
    private readonly List<MachineConfig> _runs = [];
    private readonly string _kernel;
    private Func<MachineConfig, int> _machine = _ => 0;
    private KvmProbeResult _kvm = new(false, "KVM is not usable: /dev/kvm does not exist. Use --accel bt to run with binary translation instead.");
    private ulong? _hostMemory = 8UL << 30;

    public HvCliTests()
    {
        _kernel = _files.Write("vmlinuz", TempFiles.BzImageHead());
    }

    private int Hv(params string[] args) => HvCli.Invoke(args, new HvEnvironment
    {
        Output = _output,
        Error = _error,
        RunMachine = (config, _) =>
        {
            _runs.Add(config);
            return _machine(config);
        },
        HostMemoryTotal = () => _hostMemory,
        ProbeKvm = () => _kvm,
    });

    private string ErrorLine => Assert.Single(_error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));

    private MachineConfig RunOnce(params string[] args)
    {
        Assert.Equal(0, Hv(["run", .. args]));
        Assert.Equal("", _error.ToString());
        return Assert.Single(_runs);
    }

    private void AssertUsageError(string expectedLine, params string[] args)
    {
        Assert.Equal(2, Hv(args));
        Assert.Equal(expectedLine, ErrorLine.TrimEnd('\r'));
        Assert.Empty(_runs);
    }

    [Fact]
    public void Run_with_only_a_kernel_uses_the_defaults()
    {
        MachineConfig config = RunOnce("--kernel", _kernel);
        Assert.Equal(new MachineConfig { Kernel = _kernel }, config with { Disks = [], Networks = [] });
        Assert.Equal(512UL << 20, config.MemoryBytes);
        Assert.Equal(BootSource.Kernel, config.Boot);
        Assert.IsType<SerialConfig.Stdio>(config.Serial);
    }

    [Fact]
    public void Run_maps_every_option_into_the_machine_config()
    {
        string initrd = _files.Write("initrd", [1, 2, 3]);
        string bios = _files.Write("bios.bin", new byte[65536]);
        string disk = _files.Write("disk.img", new byte[4096]);
        string image = _files.Write("image.qcow2", [0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3]);
        string log = _files.PathOf("com1.log");

        MachineConfig config = RunOnce("--kernel", _kernel, "--initrd", initrd, "--append", "console=ttyS0 quiet",
            "-m", "2G", "--smp", "4", "--accel", "bt", "--disk", disk, "--disk", $"{image},format=qcow2,readonly",
            "--net", "user,model=pcnet", "--net", "tap,ifname=tap0", "--bios", bios, "--serial", $"file={log}",
            "--no-reboot");

        Assert.Equal(2UL << 30, config.MemoryBytes);
        Assert.Equal(4, config.CpuCount);
        Assert.Equal(Accelerator.Bt, config.Accelerator);
        Assert.Equal(initrd, config.Initrd);
        Assert.Equal("console=ttyS0 quiet", config.CommandLine);
        Assert.Equal(bios, config.Bios);
        Assert.Equal([new DiskConfig(disk), new DiskConfig(image, DiskFormat.Qcow2, true)], config.Disks);
        Assert.Equal(["user/pcnet", "tap/virtio"], config.Networks.Select(n => $"{n.Backend}/{n.Model}"));
        Assert.Equal("tap0", config.Networks[1].Options["ifname"]);
        Assert.Equal(new SerialConfig.File(log), config.Serial);
        Assert.True(config.NoReboot);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]     // isa-debug-exit with value 1: (1 << 1) | 1
    [InlineData(255)]
    [InlineData(1)]
    public void The_exit_status_is_what_the_machine_returns(int status)
    {
        _machine = _ => status;
        Assert.Equal(status, Hv("run", "--kernel", _kernel));
    }

    [Fact]
    public void Boot_defaults_to_the_disk_without_a_kernel()
    {
        string disk = _files.Write("disk.img", new byte[512]);
        Assert.Equal(BootSource.Disk, RunOnce("--disk", disk).Boot);
    }

    [Fact]
    public void Net_boot_needs_no_kernel()
    {
        MachineConfig config = RunOnce("--boot", "net", "--net", "user,model=pcnet");
        Assert.Equal(BootSource.Net, config.Boot);
    }

    [Fact]
    public void Accel_kvm_with_a_usable_device_is_passed_on()
    {
        _kvm = new KvmProbeResult(true, "/dev/kvm opened, KVM API version 12");
        Assert.Equal(Accelerator.Kvm, RunOnce("--accel", "kvm", "--kernel", _kernel).Accelerator);
    }

    [Fact]
    public void Accel_kvm_without_a_usable_device_suggests_bt()
    {
        AssertUsageError("hv: error: KVM is not usable: /dev/kvm does not exist. Use --accel bt to run with binary translation instead.",
            "run", "--accel", "kvm", "--kernel", _kernel);
    }

    [Fact]
    public void Accel_auto_does_not_need_kvm()
    {
        Assert.Equal(Accelerator.Auto, RunOnce("--kernel", _kernel).Accelerator);
    }

    [Fact]
    public void A_missing_kernel_is_one_line_and_status_2()
    {
        string missing = _files.PathOf("no-such-kernel");
        AssertUsageError($"hv: error: --kernel '{missing}' does not exist", "run", "--kernel", missing);
    }

    [Fact]
    public void A_file_that_is_no_kernel_is_rejected()
    {
        string text = _files.Write("notes.txt", "just text"u8.ToArray());
        AssertUsageError($"hv: error: --kernel '{text}' is neither a Linux bzImage nor a multiboot kernel", "run", "--kernel", text);
    }

    [Fact]
    public void A_multiboot_kernel_is_accepted()
    {
        string kernel = _files.Write("test.elf", TempFiles.MultibootHead());
        Assert.Equal(kernel, RunOnce("--kernel", kernel).Kernel);
    }

    [Theory]
    [InlineData("0", "hv: error: --memory must be greater than zero")]
    [InlineData("lots", "hv: error: --memory 'lots' is not a size (examples: 512M, 2G, 1024 for MiB)")]
    [InlineData("512K", "hv: error: --memory 512 KiB is too small (at least 1M)")]
    [InlineData("1025K", "hv: error: --memory 1 MiB is not a whole number of 4 KiB pages")]
    [InlineData("9G", "hv: error: --memory 9 GiB is more than this host has (8 GiB)")]
    public void Bad_memory_sizes_are_usage_errors(string size, string expected)
    {
        AssertUsageError(expected, "run", "--kernel", _kernel, "--memory", size);
    }

    [Fact]
    public void Memory_is_not_checked_against_the_host_when_meminfo_is_unreadable()
    {
        _hostMemory = null;
        Assert.Equal(64UL << 30, RunOnce("--kernel", _kernel, "-m", "64G").MemoryBytes);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("256")]
    public void Cpu_counts_outside_1_to_255_are_rejected(string cpus)
    {
        AssertUsageError($"hv: error: --cpus {cpus} is out of range (1-255)", "run", "--kernel", _kernel, "--cpus", cpus);
    }

    [Fact]
    public void Unknown_options_commands_and_values_are_one_line_usage_errors()
    {
        AssertUsageError("hv: error: Unrecognized command or argument '--bogus' (see hv run --help)", "run", "--kernel", _kernel, "--bogus");
        _error.GetStringBuilder().Clear();
        AssertUsageError("hv: error: Unrecognized command or argument 'start' (see hv --help)", "start");
        _error.GetStringBuilder().Clear();
        Assert.Equal(2, Hv("run", "--kernel", _kernel, "--accel", "hvf"));
        Assert.StartsWith("hv: error: Argument 'hvf' not recognized. Must be one of: 'auto' 'kvm' 'bt'", ErrorLine);
        _error.GetStringBuilder().Clear();
        Assert.Equal(2, Hv("run", "--kernel", _kernel, "--cpus", "many"));
        Assert.Contains("'many'", ErrorLine);
    }

    [Fact]
    public void No_command_is_a_usage_error()
    {
        Assert.Equal(2, Hv());
        Assert.StartsWith("hv: error: ", ErrorLine);
    }

    [Theory]
    [InlineData("hv: error: nothing to boot: give --kernel PATH, or --disk PATH, or --boot net with --net", "run")]
    [InlineData("hv: error: --boot disk needs a --disk", "run", "--boot", "disk")]
    [InlineData("hv: error: --boot net needs a --net", "run", "--boot", "net")]
    [InlineData("hv: error: --boot kernel needs --kernel PATH", "run", "--boot", "kernel")]
    [InlineData("hv: error: --initrd needs --kernel", "run", "--boot", "net", "--net", "user", "--initrd", "x")]
    [InlineData("hv: error: --cmdline needs --kernel", "run", "--boot", "net", "--net", "user", "--cmdline", "x")]
    public void Boot_sources_must_have_what_they_boot(string expected, params string[] args)
    {
        AssertUsageError(expected, args);
    }

    [Fact]
    public void Kernel_and_bios_boot_exclude_each_other()
    {
        string disk = _files.Write("disk.img", new byte[512]);
        AssertUsageError("hv: error: --kernel cannot be combined with --boot disk (the BIOS loads the kernel then)",
            "run", "--kernel", _kernel, "--boot", "disk", "--disk", disk);
    }

    [Fact]
    public void Disks_must_exist_and_a_qcow2_header_needs_an_explicit_format()
    {
        string missing = _files.PathOf("missing.img");
        AssertUsageError($"hv: error: --disk '{missing}' does not exist", "run", "--kernel", _kernel, "--disk", missing);

        _error.GetStringBuilder().Clear();
        string image = _files.Write("image", [0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3]);
        AssertUsageError($"hv: error: --disk '{image}' has a qcow2 header; say format=qcow2 (or format=raw to use it as raw)",
            "run", "--kernel", _kernel, "--disk", image);

        _error.GetStringBuilder().Clear();
        Assert.Equal(DiskFormat.Raw, RunOnce("--kernel", _kernel, "--disk", $"{image},format=raw").Disks[0].Format);
    }

    [Fact]
    public void Missing_initrd_bios_and_serial_directory_are_named()
    {
        AssertUsageError($"hv: error: --initrd '{_files.PathOf("i")}' does not exist", "run", "--kernel", _kernel, "--initrd", _files.PathOf("i"));
        _error.GetStringBuilder().Clear();
        AssertUsageError($"hv: error: --bios '{_files.PathOf("b")}' does not exist", "run", "--kernel", _kernel, "--bios", _files.PathOf("b"));
        _error.GetStringBuilder().Clear();
        string log = Path.Combine(_files.Directory, "no-dir", "com1.log");
        AssertUsageError($"hv: error: --serial file='{log}': directory '{Path.GetDirectoryName(log)}' does not exist",
            "run", "--kernel", _kernel, "--serial", $"file={log}");
    }

    [Fact]
    public void Machine_configuration_errors_are_one_line_and_status_2()
    {
        _machine = _ => throw new MachineConfigurationException("--kernel 'vmlinuz': setup header version 2.01 is too old (need 2.06)");
        Assert.Equal(2, Hv("run", "--kernel", _kernel));
        Assert.Equal("hv: error: --kernel 'vmlinuz': setup header version 2.01 is too old (need 2.06)", ErrorLine);
    }

    [Fact]
    public void An_unavailable_backend_is_one_line_and_status_2()
    {
        _machine = _ => throw new AccelerationUnavailableException("KVM is not usable: no /dev/kvm. Use --accel bt.");
        Assert.Equal(2, Hv("run", "--kernel", _kernel));
        Assert.Equal("hv: error: KVM is not usable: no /dev/kvm. Use --accel bt.", ErrorLine);
    }

    [Fact]
    public void Failing_to_reserve_guest_memory_is_one_line_and_status_2()
    {
        _machine = _ => throw new OutOfMemoryException("cannot reserve 4096 MiB of guest memory for 'ram-low': Cannot allocate memory (errno 12)");
        Assert.Equal(2, Hv("run", "--kernel", _kernel));
        Assert.Equal("hv: error: cannot reserve 4096 MiB of guest memory for 'ram-low': Cannot allocate memory (errno 12)", ErrorLine);
    }

    [Fact]
    public void Io_errors_while_starting_are_one_line_and_status_2()
    {
        _machine = _ => throw new IOException("disk.img: Permission denied");
        Assert.Equal(2, Hv("run", "--kernel", _kernel));
        Assert.Equal("hv: error: disk.img: Permission denied", ErrorLine);
    }

    [Fact]
    public void Unexpected_failures_are_one_line_without_a_stack_trace_and_status_1()
    {
        _machine = _ => throw new InvalidOperationException("vCPU 0 ran into\nsomething unexpected");
        Assert.Equal(1, Hv("run", "--kernel", _kernel));
        Assert.Equal("hv: internal error: vCPU 0 ran into something unexpected (InvalidOperationException; set HV_DEBUG=1 for details)", ErrorLine);
    }

    [Fact]
    public void Help_lists_the_run_options_and_exits_0()
    {
        Assert.Equal(0, Hv("run", "--help"));
        string help = _output.ToString();
        foreach (string option in new[] { "--kernel", "--initrd", "--cmdline", "--append", "--memory", "-m", "--cpus", "--smp",
                     "--accel", "--disk", "--net", "--bios", "--boot", "--serial", "--no-reboot" })
            Assert.Contains(option, help);
        Assert.Equal("", _error.ToString());
        Assert.Empty(_runs);
    }

    [Fact]
    public void Root_help_lists_the_commands()
    {
        Assert.Equal(0, Hv("--help"));
        Assert.Contains("run", _output.ToString());
        Assert.Contains("version", _output.ToString());
    }

    [Fact]
    public void Version_reports_runtime_and_accelerators()
    {
        Assert.Equal(0, Hv("version"));
        string text = _output.ToString();
        Assert.StartsWith("hv ", text);
        Assert.Contains(".NET", text);
        Assert.Contains("kvm: not usable (KVM is not usable: /dev/kvm does not exist.", text);
        Assert.Contains("bt: usable", text);
        Assert.Contains("default accelerator: bt", text);
    }

    [Fact]
    public void Version_names_kvm_the_default_when_it_is_usable()
    {
        _kvm = new KvmProbeResult(true, "/dev/kvm opened, KVM API version 12");
        Assert.Equal(0, Hv("version"));
        Assert.Contains("kvm: usable (/dev/kvm opened, KVM API version 12)", _output.ToString());
        Assert.Contains("default accelerator: kvm", _output.ToString());
    }

    public void Dispose() => _files.Dispose();
}
