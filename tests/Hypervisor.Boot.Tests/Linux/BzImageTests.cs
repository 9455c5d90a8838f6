using Hypervisor.Boot.E820;
using Hypervisor.Boot.Linux;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.Linux;

/// <summary>Setup header validation and placement rules of boot.rst, on synthetic images.</summary>
public class BzImageTests
{
    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1 })]
    public void A_file_that_is_not_a_bzimage_is_refused_with_its_name(byte[] start)
    {
        var file = new byte[start.Length == 0 ? 100 : 0x4000];
        start.CopyTo(file, 0);
        var e = Assert.Throws<BootImageException>(() => BzImage.Parse(file, "/tmp/kernel.elf"));
        Assert.StartsWith("/tmp/kernel.elf: not a Linux bzImage", e.Message);
    }

    [Fact]
    public void A_missing_header_magic_is_refused()
    {
        var file = new SyntheticBzImage().Build();
        file[0x202] = (byte)'X';
        Assert.Contains("HdrS", Assert.Throws<BootImageException>(() => BzImage.Parse(file, "k")).Message);
    }

    [Fact]
    public void A_protocol_older_than_2_06_is_refused()
    {
        var file = new SyntheticBzImage(Protocol: 0x0204).Build();
        var e = Assert.Throws<BootImageException>(() => BzImage.Parse(file, "old"));
        Assert.Equal("old: Linux boot protocol 2.04 is too old; hv needs 2.06 or newer", e.Message);
    }

    [Fact]
    public void A_kernel_shorter_than_its_declared_size_is_refused()
    {
        var file = new SyntheticBzImage().Build();
        Assert.Contains("truncated", Assert.Throws<BootImageException>(() => BzImage.Parse(file[..^16], "k")).Message);
    }

    [Fact]
    public void A_missing_file_is_reported_by_name()
    {
        var e = Assert.Throws<BootImageException>(() => BzImage.Load("/nonexistent/vmlinuz"));
        Assert.StartsWith("/nonexistent/vmlinuz: cannot read", e.Message);
    }

    [Fact]
    public void Setup_sects_zero_means_four()
    {
        var image = BzImage.Parse(new SyntheticBzImage(SetupSects: 0).Build(), "k");
        Assert.Equal(5 * 512, image.SetupSize);
        Assert.Equal(0x2_0000, image.ProtectedModeKernel.Length);
    }

    [Fact]
    public void A_kernel_without_xlf_kernel_64_cannot_use_the_64_bit_entry_but_can_use_the_32_bit_one()
    {
        using var memory = GuestMemory.CreatePc(64 << 20);
        var image = BzImage.Parse(new SyntheticBzImage(XLoadFlags: 0).Build(), "k32");
        var map = E820Map.CreatePc(memory);
        Assert.Contains("64-bit entry", Assert.Throws<BootImageException>(() =>
            BzImageLoader.Load(memory, image, new LinuxBootOptions { MemoryMap = map })).Message);
        var result = BzImageLoader.Load(memory, image, new LinuxBootOptions { MemoryMap = map, Entry = LinuxEntryMode.ProtectedMode32 });
        Assert.Equal(result.KernelAddress, result.Cpu.Rip);
    }

    [Fact]
    public void A_non_relocatable_kernel_goes_to_1_MiB_and_reserves_init_size_from_pref_address()
    {
        using var memory = GuestMemory.CreatePc(64 << 20);
        var image = BzImage.Parse(new SyntheticBzImage(Relocatable: false).Build(), "k");
        var result = BzImageLoader.Load(memory, image, new LinuxBootOptions { MemoryMap = E820Map.CreatePc(memory) });
        Assert.Equal(0x100000UL, result.KernelAddress);
        Assert.Equal(0x100200UL, result.Cpu.Rip);
        Assert.Equal(0x100_0000UL + 0x40_0000, result.KernelEnd);
    }

    [Fact]
    public void A_misaligned_pref_address_is_not_used()
    {
        using var memory = GuestMemory.CreatePc(64 << 20);
        var image = BzImage.Parse(new SyntheticBzImage(PrefAddress: 0x123_4000).Build(), "k");
        var result = BzImageLoader.Load(memory, image, new LinuxBootOptions { MemoryMap = E820Map.CreatePc(memory) });
        Assert.Equal(0x100000UL, result.KernelAddress);
    }

    [Fact]
    public void The_initrd_stays_below_initrd_addr_max_even_with_more_ram()
    {
        using var memory = GuestMemory.CreatePc(256 << 20);
        var image = BzImage.Parse(new SyntheticBzImage(InitrdAddressMax: 0x07FF_FFFF).Build(), "k");
        var initrd = new BootFile("initrd", new byte[0x1800]);
        var result = BzImageLoader.Load(memory, image,
            new LinuxBootOptions { MemoryMap = E820Map.CreatePc(memory), Initrd = initrd });
        Assert.Equal(0x0800_0000UL - 0x2000, result.InitrdAddress);
        Assert.Equal(0x1800UL, result.InitrdSize);
    }

    [Fact]
    public void Without_an_initrd_the_ramdisk_fields_are_zero()
    {
        using var memory = GuestMemory.CreatePc(64 << 20);
        var image = BzImage.Parse(new SyntheticBzImage().Build(), "k");
        var result = BzImageLoader.Load(memory, image, new LinuxBootOptions { MemoryMap = E820Map.CreatePc(memory) });
        Assert.Equal(0u, memory.Read<uint>(result.BootParamsAddress + 0x218));
        Assert.Equal(0u, memory.Read<uint>(result.BootParamsAddress + 0x21C));
        Assert.Equal(0UL, memory.Read<ulong>(result.BootParamsAddress + 0x70)); // no RSDP given
    }

    [Fact]
    public void Acpi_rsdp_addr_is_only_set_for_protocol_2_14_and_later()
    {
        using var memory = GuestMemory.CreatePc(64 << 20);
        var image = BzImage.Parse(new SyntheticBzImage(Protocol: 0x020D).Build(), "k");
        var result = BzImageLoader.Load(memory, image,
            new LinuxBootOptions { MemoryMap = E820Map.CreatePc(memory), AcpiRsdpAddress = 0xE0000 });
        Assert.Equal(0UL, memory.Read<ulong>(result.BootParamsAddress + 0x70));
    }
}

public class KernelFormatTests
{
    [Fact]
    public void Bzimage_multiboot_and_other_files_are_told_apart()
    {
        Assert.Equal(KernelFormat.BzImage, KernelFormats.Identify(new SyntheticBzImage().Build(), "k"));
        var multiboot = new byte[4096];
        BitConverter.TryWriteBytes(multiboot.AsSpan(0x100), 0x1BADB002u);
        Assert.Equal(KernelFormat.Multiboot, KernelFormats.Identify(multiboot, "k"));
        var e = Assert.Throws<BootImageException>(() => KernelFormats.Identify(new byte[4096], "/boot/blob"));
        Assert.Equal("/boot/blob: not a Linux bzImage or a multiboot kernel", e.Message);
    }
}
