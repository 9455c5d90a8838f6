using Hypervisor.Boot.E820;
using Hypervisor.Boot.Linux;
using Hypervisor.Boot.Tests.Support;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.Linux;

/// <summary>
/// Loads the real Debian kernel and checks what it would be handed, field by field, against boot.rst and
/// zero-page.rst.
/// </summary>
public sealed class DebianKernelTests : IDisposable
{
    private const ulong Ram = 512UL << 20;
    private const string CommandLine = "console=ttyS0,115200 root=/dev/vda rw panic=-1";

    private readonly GuestMemory _memory = GuestMemory.CreatePc(Ram);
    private readonly byte[] _file = File.ReadAllBytes(TestImages.Vmlinuz);
    private readonly byte[] _initrd = CreateInitrd(3 << 20);

    public void Dispose() => _memory.Dispose();

    private LinuxBootResult Boot(LinuxEntryMode entry)
    {
        var tables = FirmwareTables.Write(_memory, 2);
        var kernel = BzImage.Parse(_file, "vmlinuz");
        return BzImageLoader.Load(_memory, kernel, new LinuxBootOptions
        {
            MemoryMap = tables.MemoryMap,
            CommandLine = CommandLine,
            Initrd = new BootFile("initrd.img", _initrd),
            AcpiRsdpAddress = tables.RsdpAddress,
            Entry = entry,
        });
    }

    private byte[] ZeroPage => _memory.GetReadOnlySpan(0x7000, 4096).ToArray();

    [Fact]
    public void Setup_header_is_copied_with_the_loader_fields_filled_in()
    {
        var result = Boot(LinuxEntryMode.LongMode64);
        byte[] zp = ZeroPage;
        Assert.Equal(0x7000UL, result.BootParamsAddress);

        int headerEnd = 0x202 + _file[0x201];
        Assert.True(headerEnd > 0x268, "a 6.1 kernel's header reaches kernel_info_offset");
        var loaderFields = new HashSet<int>();
        void Field(int offset, int size) { for (int i = 0; i < size; i++) loaderFields.Add(offset + i); }
        Field(0x1FA, 2); Field(0x210, 1); Field(0x211, 1); Field(0x214, 4); Field(0x218, 8); Field(0x224, 2);
        Field(0x228, 4); Field(0x23C, 12); Field(0x250, 8);
        for (int offset = 0x1F1; offset < headerEnd; offset++)
            if (!loaderFields.Contains(offset))
                Assert.True(_file[offset] == zp[offset], $"boot_params byte 0x{offset:x} differs from the kernel's header");
        for (int offset = headerEnd; offset < 0x290; offset++) Assert.Equal(0, zp[offset]);

        Assert.Equal(0xAA55, zp.U16(0x1FE));
        Assert.Equal("HdrS", zp.Ascii(0x202, 4));
        Assert.True(zp.U16(0x206) >= 0x020F);
        Assert.Equal(0xFF, zp[0x210]);                 // type_of_loader: undefined
        Assert.Equal(0x81, zp[0x211] & 0x81);          // LOADED_HIGH | CAN_USE_HEAP
        Assert.Equal(_file[0x211] | 0x80, zp[0x211]);
        Assert.Equal(0xDE00, zp.U16(0x224));           // heap_end_ptr
        Assert.Equal(0xFFFF, zp.U16(0x1FA));           // vid_mode: normal
        Assert.Equal(0u, zp.U32(0x23C));               // hardware_subarch: PC
        Assert.Equal(0UL, zp.U64(0x250));              // no setup_data
        Assert.Equal(0xE0000UL, zp.U64(0x070));        // acpi_rsdp_addr
        Assert.Equal("RSD PTR ", System.Text.Encoding.ASCII.GetString(_memory.GetReadOnlySpan(0xE0000, 8)));
    }

    [Fact]
    public void Kernel_is_loaded_at_its_preferred_address_and_the_command_line_is_in_place()
    {
        var result = Boot(LinuxEntryMode.LongMode64);
        byte[] zp = ZeroPage;
        int setupSize = ((_file[0x1F1] == 0 ? 4 : _file[0x1F1]) + 1) * 512;
        ulong pref = _file.U64(0x258);
        Assert.Equal(pref, result.KernelAddress);
        Assert.Equal((uint)pref, zp.U32(0x214));        // code32_start follows the load address
        Assert.Equal(Convert.ToHexString(_file.AsSpan(setupSize)),
            Convert.ToHexString(_memory.GetReadOnlySpan(pref, _file.Length - setupSize)));
        Assert.True(result.KernelEnd >= pref + _file.U32(0x260), "the kernel's init_size is reserved for it");

        uint commandLinePointer = zp.U32(0x228);
        Assert.Equal(CommandLine, Bytes.CString(_memory, commandLinePointer));
        Assert.True((uint)CommandLine.Length <= _file.U32(0x238));
        Assert.True(commandLinePointer + CommandLine.Length < 0xA0000);
    }

    [Fact]
    public void Initrd_sits_page_aligned_as_high_as_the_kernel_allows()
    {
        var result = Boot(LinuxEntryMode.LongMode64);
        byte[] zp = ZeroPage;
        uint image = zp.U32(0x218), size = zp.U32(0x21C);
        Assert.Equal((uint)_initrd.Length, size);
        Assert.Equal(0u, image % 4096);
        Assert.True(image + (ulong)size - 1 <= _file.U32(0x22C), "below initrd_addr_max");
        Assert.True(image + (ulong)size <= Ram, "in RAM");
        Assert.True(Ram - (image + (ulong)size) < 4096, "as high as possible");
        Assert.True(image >= result.KernelEnd, "above the memory the kernel decompresses into");
        Assert.Equal(_initrd, _memory.GetReadOnlySpan(image, (int)size).ToArray());
    }

    [Fact]
    public void E820_table_is_sorted_disjoint_and_reserves_the_bios_area()
    {
        Boot(LinuxEntryMode.LongMode64);
        byte[] zp = ZeroPage;
        int count = zp[0x1E8];
        Assert.InRange(count, 3, 128);
        var entries = Enumerable.Range(0, count)
            .Select(i => new E820Entry(zp.U64(0x2D0 + i * 20), zp.U64(0x2D0 + i * 20 + 8), (E820Type)zp.U32(0x2D0 + i * 20 + 16)))
            .ToList();
        for (int i = 1; i < count; i++) Assert.True(entries[i - 1].End <= entries[i].Address, $"{entries[i - 1]} overlaps {entries[i]}");
        Assert.Equal(new E820Entry(0, 0x9FC00, E820Type.Ram), entries[0]);
        Assert.Contains(entries, e => e.Type == E820Type.Ram && e.Address == 0x100000 && e.End == Ram);
        Assert.Contains(entries, e => e.Type == E820Type.Acpi && e.Address <= 0xE0000 && e.End > 0xE0000);
        Assert.Contains(entries, e => e.Type == E820Type.Reserved && e.Address <= 0xF0000 && e.End >= 0x100000);
        Assert.Contains(entries, e => e.Type == E820Type.Reserved && e.Address <= 0xFEC00000 && e.End > 0xFEC00000);
        ulong usable = entries.Where(e => e.Type == E820Type.Ram).Aggregate(0UL, (sum, e) => sum + e.Size);
        Assert.Equal(Ram - (0x100000 - 0x9FC00), usable);
    }

    [Fact]
    public void Sixty_four_bit_entry_is_long_mode_at_startup_64_with_identity_paging_and_the_boot_gdt()
    {
        var result = Boot(LinuxEntryMode.LongMode64);
        var cpu = result.Cpu;
        Assert.Equal(result.KernelAddress + 0x200, cpu.Rip);
        // startup_64 begins with cld; cli (arch/x86/boot/compressed/head_64.S).
        Assert.Equal([0xFC, 0xFA], _memory.GetReadOnlySpan(cpu.Rip, 2).ToArray());
        Assert.Equal(0x7000UL, cpu.Rsi);
        Assert.Equal(0UL, cpu.Rflags & 0x200);
        Assert.Equal(0x80000001UL, cpu.Cr0 & 0x80000001);
        Assert.Equal(0x20UL, cpu.Cr4 & 0x20);
        Assert.Equal(0x500UL, cpu.Efer & 0x500);

        Assert.Equal(0x10, cpu.Cs.Selector);
        Assert.True(cpu.Cs.Long && !cpu.Cs.DefaultBig && cpu.Cs.Present);
        foreach (var s in new[] { cpu.Ds, cpu.Es, cpu.Ss })
        {
            Assert.Equal(0x18, s.Selector);
            Assert.Equal(0UL, s.Base);
            Assert.Equal(0xFFFFFFFFu, s.Limit);
            Assert.Equal(2, s.Type & 2); // writable
        }
        AssertGdtMatches(cpu);

        foreach (ulong address in new[] { cpu.Rip, 0x7000UL, ZeroPage.U32(0x228), ZeroPage.U32(0x218),
                     result.KernelEnd - 1, 0xFEE00000UL, 0xFFFFFFFFUL })
            Assert.Equal(address, PageWalk.Translate(_memory, cpu.Cr3, address));
    }

    [Fact]
    public void Thirty_two_bit_entry_is_flat_protected_mode_at_code32_start()
    {
        var result = Boot(LinuxEntryMode.ProtectedMode32);
        var cpu = result.Cpu;
        Assert.Equal(ZeroPage.U32(0x214), cpu.Rip);
        Assert.Equal(result.KernelAddress, cpu.Rip);
        // startup_32 also begins with cld; cli.
        Assert.Equal([0xFC, 0xFA], _memory.GetReadOnlySpan(cpu.Rip, 2).ToArray());
        Assert.Equal(0x7000UL, cpu.Rsi);
        Assert.Equal(0UL, cpu.Rbx | cpu.Rbp | cpu.Rdi);
        Assert.Equal(1UL, cpu.Cr0 & 0x80000001);
        Assert.Equal(0UL, cpu.Efer);
        Assert.Equal(0UL, cpu.Rflags & 0x200);
        Assert.Equal(0x10, cpu.Cs.Selector);
        Assert.True(cpu.Cs.DefaultBig && !cpu.Cs.Long);
        Assert.Equal(0x18, cpu.Ds.Selector);
        AssertGdtMatches(cpu);
    }

    [Fact]
    public void Too_little_memory_for_the_kernel_is_refused_with_the_file_name()
    {
        using var small = GuestMemory.CreatePc(48UL << 20);
        var kernel = BzImage.Parse(_file, "vmlinuz-6.1");
        var e = Assert.Throws<BootImageException>(() => BzImageLoader.Load(small, kernel,
            new LinuxBootOptions { MemoryMap = E820Map.CreatePc(small) }));
        Assert.StartsWith("vmlinuz-6.1: ", e.Message);
        Assert.Contains("more memory", e.Message);
    }

    [Fact]
    public void An_initrd_that_does_not_fit_is_refused_with_its_name()
    {
        using var memory = GuestMemory.CreatePc(128UL << 20);
        var kernel = BzImage.Parse(_file, "vmlinuz");
        var e = Assert.Throws<BootImageException>(() => BzImageLoader.Load(memory, kernel, new LinuxBootOptions
        {
            MemoryMap = E820Map.CreatePc(memory),
            Initrd = new BootFile("big.cpio", new byte[64 << 20]),
        }));
        Assert.StartsWith("big.cpio: ", e.Message);
    }

    [Fact]
    public void A_truncated_kernel_is_refused()
    {
        var e = Assert.Throws<BootImageException>(() => BzImage.Parse(_file[..(1 << 20)], "vmlinuz"));
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void A_command_line_longer_than_cmdline_size_is_refused()
    {
        var kernel = BzImage.Parse(_file, "vmlinuz");
        var e = Assert.Throws<BootImageException>(() => BzImageLoader.Load(_memory, kernel, new LinuxBootOptions
        {
            MemoryMap = E820Map.CreatePc(_memory),
            CommandLine = new string('x', (int)kernel.CommandLineSize + 1),
        }));
        Assert.Contains("command line", e.Message);
    }

    private void AssertGdtMatches(CpuState cpu)
    {
        Assert.True(cpu.Gdtr.Limit >= 0x1F);
        var descriptor = (ushort selector) => _memory.Read<ulong>(cpu.Gdtr.Base + selector);
        Assert.Equal(cpu.Cs, SegmentRegister.FromDescriptor(0x10, descriptor(0x10)));
        Assert.Equal(cpu.Ds, SegmentRegister.FromDescriptor(0x18, descriptor(0x18)));
        Assert.Equal(cpu.Tr, SegmentRegister.FromDescriptor(cpu.Tr.Selector, descriptor(cpu.Tr.Selector)));
    }

    private static byte[] CreateInitrd(int size)
    {
        var bytes = new byte[size];
        new Random(42).NextBytes(bytes);
        return bytes;
    }
}
