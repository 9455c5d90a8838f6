using Hypervisor.Boot.E820;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.Boot.Linux;

/// <summary>Which of the boot protocol's entry points the boot vCPU starts at.</summary>
public enum LinuxEntryMode
{
    /// <summary>startup_64 at load address + 0x200, in long mode (protocol 2.12+ with XLF_KERNEL_64).</summary>
    LongMode64,

    /// <summary>code32_start in flat protected mode with paging off.</summary>
    ProtectedMode32,
}

public sealed class LinuxBootOptions
{
    /// <summary>The memory map the guest is told about; the loader places everything in its usable RAM.</summary>
    public required E820Map MemoryMap { get; init; }

    public string CommandLine { get; init; } = "";

    public BootFile? Initrd { get; init; }

    /// <summary>Where the RSDP is, passed in boot_params.acpi_rsdp_addr (protocol 2.14+); null to let Linux search.</summary>
    public ulong? AcpiRsdpAddress { get; init; }

    public LinuxEntryMode Entry { get; init; } = LinuxEntryMode.LongMode64;
}

/// <summary>Where a bzImage was placed and the boot vCPU's state at its entry point.</summary>
public sealed record LinuxBootResult(
    CpuState Cpu,
    ulong KernelAddress,
    ulong KernelEnd,
    ulong EntryPoint,
    ulong BootParamsAddress,
    ulong CommandLineAddress,
    ulong InitrdAddress,
    ulong InitrdSize);
