using Hypervisor.Devices.Console;

namespace Hypervisor.Machine.Tests;

/// <summary>Bad input must end in one <see cref="MachineConfigurationException"/> naming the problem, before any guest runs.</summary>
public class VirtualMachineInputTests
{
    private static int Run(MachineConfig config) =>
        VirtualMachine.Run(config, new InMemoryCharacterBackend(), TextWriter.Null);

    [Fact]
    public void AMissingKernelIsNamed()
    {
        var e = Assert.Throws<MachineConfigurationException>(() =>
            Run(new MachineConfig { Kernel = "/nonexistent/vmlinuz", Accelerator = Accelerator.Bt }));
        Assert.Equal("--kernel /nonexistent/vmlinuz: no such file", e.Message);
    }

    [Fact]
    public void AMissingDiskIsNamed()
    {
        var e = Assert.Throws<MachineConfigurationException>(() =>
            Run(new MachineConfig { Disks = [new DiskConfig("/nonexistent/disk.img")], Accelerator = Accelerator.Bt }));
        Assert.Contains("/nonexistent/disk.img", e.Message);
    }

    [Fact]
    public void ABiosIsRefusedRatherThanIgnored()
    {
        var bios = Path.GetTempFileName();
        try
        {
            var e = Assert.Throws<MachineConfigurationException>(() =>
                Run(new MachineConfig { Bios = bios, Kernel = bios, Accelerator = Accelerator.Bt }));
            Assert.StartsWith($"--bios {bios}:", e.Message);
        }
        finally
        {
            File.Delete(bios);
        }
    }

    [Theory]
    [InlineData(0, "the BIOS image is empty")]
    [InlineData(1000, "a BIOS image must be a multiple of 64 KiB, this one is 1000 bytes")]
    [InlineData((16 << 20) + 0x1_0000, "a BIOS image can be at most 16 MiB")]
    public void ABiosImageOfTheWrongSizeIsNamed(int size, string problem)
    {
        var bios = Path.GetTempFileName();
        var disk = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(bios, new byte[size]);
            var e = Assert.Throws<MachineConfigurationException>(() => Run(new MachineConfig
            {
                Bios = bios, Boot = BootSource.Disk, Disks = [new DiskConfig(disk)], Accelerator = Accelerator.Bt,
            }));
            Assert.StartsWith($"--bios {bios}: {problem}", e.Message);
        }
        finally
        {
            File.Delete(bios);
            File.Delete(disk);
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(256)]
    public void CpuCountsOutsideTheMadtRangeAreRefused(int cpus)
    {
        var e = Assert.Throws<MachineConfigurationException>(() =>
            Run(new MachineConfig { CpuCount = cpus, Accelerator = Accelerator.Bt }));
        Assert.Contains("--cpus", e.Message);
    }

    [Fact]
    public void KvmWithoutAUsableDeviceSaysSoAndSuggestsBt()
    {
        if (File.Exists("/dev/kvm")) return; // this host has KVM: the nested harness covers the other case
        var kernel = Path.GetTempFileName();
        try
        {
            var e = Assert.Throws<Hypervisor.Platform.Hypervisor.AccelerationUnavailableException>(() =>
                Run(new MachineConfig { Kernel = kernel, Accelerator = Accelerator.Kvm }));
            Assert.Contains("/dev/kvm", e.Message);
            Assert.Contains("--accel bt", e.Message);
        }
        finally
        {
            File.Delete(kernel);
        }
    }
}
