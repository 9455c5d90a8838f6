using Hypervisor.Boot;
using Hypervisor.Boot.Linux;
using Hypervisor.Boot.Multiboot;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Machine;

/// <summary>
/// Direct kernel boot, as QEMU's -kernel does it: firmware tables in place of a BIOS, then a multiboot kernel or a
/// bzImage, whichever the file is. Returns the boot vCPU's state at the kernel's entry.
/// </summary>
public static class KernelBoot
{
    public static CpuState Load(GuestMemory memory, MachineConfig config)
    {
        string path = config.Kernel ?? throw new MachineConfigurationException("--boot kernel needs --kernel");
        var tables = FirmwareTables.Write(memory, config.CpuCount);
        var kernel = BootFile.Read(path);

        if (MultibootImage.IsMultiboot(kernel.Data))
        {
            var image = MultibootImage.Parse(kernel.Data, kernel.Name);
            var result = MultibootLoader.Load(memory, image, tables.MemoryMap, config.CommandLine, MultibootModules(config.Initrd));
            return result.Cpu;
        }

        var bzImage = BzImage.Parse(kernel.Data, kernel.Name);
        var linux = BzImageLoader.Load(memory, bzImage, new LinuxBootOptions
        {
            MemoryMap = tables.MemoryMap,
            CommandLine = config.CommandLine,
            Initrd = config.Initrd is null ? null : BootFile.Read(config.Initrd),
            AcpiRsdpAddress = tables.RsdpAddress,
        });
        return linux.Cpu;
    }

    /// <summary>QEMU's convention: -initrd "file1 arg arg,file2 arg" gives multiboot modules with command lines.</summary>
    private static IReadOnlyList<MultibootModule> MultibootModules(string? initrd)
    {
        if (string.IsNullOrEmpty(initrd)) return [];
        var modules = new List<MultibootModule>();
        foreach (var spec in initrd.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = spec.Split(' ', 2);
            modules.Add(new MultibootModule(BootFile.Read(parts[0]), parts.Length > 1 ? parts[1] : ""));
        }
        return modules;
    }
}
