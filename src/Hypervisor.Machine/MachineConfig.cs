namespace Hypervisor.Machine;

public enum Accelerator
{
    /// <summary>KVM when /dev/kvm opens with API version 12, BT otherwise.</summary>
    Auto,
    Kvm,
    Bt,
}

public enum BootSource
{
    /// <summary>Direct kernel boot (bzImage or multiboot) from <see cref="MachineConfig.Kernel"/>.</summary>
    Kernel,

    /// <summary>BIOS boots the first disk's MBR.</summary>
    Disk,

    /// <summary>BIOS boots over the network (PXE).</summary>
    Net,
}

public enum DiskFormat
{
    Raw,
    Qcow2,
}

public sealed record DiskConfig(string Path, DiskFormat Format = DiskFormat.Raw, bool ReadOnly = false);

/// <summary>A network backend spec as given to --net, e.g. "tap,ifname=tap0" or "socket,path=/tmp/lan".</summary>
public sealed record NetConfig(string Backend, IReadOnlyDictionary<string, string> Options, string Model = "virtio");

/// <summary>
/// A named extra virtio-console port (--console-port NAME,file=OUT[,input=IN]): the guest's output goes to
/// <paramref name="OutputPath"/>, and the bytes of <paramref name="InputPath"/> are the host's input.
/// </summary>
public sealed record ConsolePortConfig(string Name, string? OutputPath, string? InputPath);

public abstract record SerialConfig
{
    public sealed record Stdio : SerialConfig;

    public sealed record File(string Path) : SerialConfig;

    public sealed record None : SerialConfig;
}

/// <summary>Everything needed to build and run one VM. The CLI parses into it; nothing here touches files.</summary>
public sealed record MachineConfig
{
    public ulong MemoryBytes { get; init; } = 512UL << 20;
    public int CpuCount { get; init; } = 1;
    public Accelerator Accelerator { get; init; } = Accelerator.Auto;

    public string? Kernel { get; init; }
    public string? Initrd { get; init; }
    public string CommandLine { get; init; } = "";

    /// <summary>A BIOS image to use instead of hv's own (e.g. SeaBIOS's bios.bin).</summary>
    public string? Bios { get; init; }

    public BootSource Boot { get; init; } = BootSource.Kernel;

    /// <summary>Where the firmware's debug log (isa-debugcon, port 0x402) goes; null drops it.</summary>
    public string? DebugConsolePath { get; init; }

    public IReadOnlyList<DiskConfig> Disks { get; init; } = [];
    public IReadOnlyList<NetConfig> Networks { get; init; } = [];
    public SerialConfig Serial { get; init; } = new SerialConfig.Stdio();

    /// <summary>Extra virtio-console ports; any adds a multiport virtio-console whose port 0 is unconnected.</summary>
    public IReadOnlyList<ConsolePortConfig> ConsolePorts { get; init; } = [];

    /// <summary>Exit instead of rebooting when the guest resets (QEMU's -no-reboot).</summary>
    public bool NoReboot { get; init; }
}
