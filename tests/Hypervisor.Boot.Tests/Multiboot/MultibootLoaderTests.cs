using Hypervisor.Boot.E820;
using Hypervisor.Boot.Multiboot;
using Hypervisor.Boot.Tests.Support;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.Multiboot;

/// <summary>Placement, boot information and machine state of Multiboot 0.6.96 (3.2, 3.3), as QEMU -kernel does it.</summary>
public sealed class MultibootLoaderTests : IDisposable
{
    private const ulong Ram = 64UL << 20;
    private readonly GuestMemory _memory = GuestMemory.CreatePc(Ram);
    private readonly E820Map _map;

    public MultibootLoaderTests()
    {
        _map = FirmwareTables.Write(_memory, 1).MemoryMap;
        // Garbage where the kernel goes, so the test sees that bss is cleared rather than never written.
        _memory.GetWritableSpan(0x100000, 0x100000).Fill(0xCC);
    }

    public void Dispose() => _memory.Dispose();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Elf_segments_land_at_their_physical_addresses_with_bss_zeroed(bool elf64)
    {
        using var kernel = TestKernel.Build(elf64: elf64);
        var result = MultibootLoader.Load(_memory, MultibootImage.Parse(kernel.Bytes, "kernel.elf"), _map);

        Assert.Equal(0x1BADB002u, _memory.Read<uint>(0x100000));
        Assert.Equal("hv multiboot test", Bytes.CString(_memory, kernel.Symbol("message")));
        ulong stack = kernel.Symbol("stack"), top = kernel.Symbol("stack_top");
        Assert.Equal(16384UL, top - stack);
        Assert.True(_memory.GetReadOnlySpan(stack, 16384).IndexOfAnyExcept((byte)0) < 0, "bss is zeroed");
        Assert.Equal(0x100000UL, result.KernelStart);
        Assert.Equal(top, result.KernelEnd);
        Assert.Equal(kernel.Symbol("_start"), result.Cpu.Rip);
    }

    [Fact]
    public void A_higher_half_kernel_is_loaded_by_physical_address_and_entered_there()
    {
        using var kernel = TestKernel.Build(physical: 0x200000, virtualBase: 0xC0200000);
        var result = MultibootLoader.Load(_memory, MultibootImage.Parse(kernel.Bytes, "kernel.elf"), _map);
        Assert.Equal(0x1BADB002u, _memory.Read<uint>(0x200000));
        Assert.Equal(kernel.Symbol("_start") - 0xC0000000, result.Cpu.Rip);
    }

    [Fact]
    public void Machine_state_is_flat_protected_mode_with_the_magic_in_eax_and_the_info_in_ebx()
    {
        using var kernel = TestKernel.Build();
        var cpu = MultibootLoader.Load(_memory, MultibootImage.Parse(kernel.Bytes, "kernel.elf"), _map).Cpu;
        Assert.Equal(0x2BADB002UL, cpu.Rax);
        Assert.Equal(0x30000UL, cpu.Rbx);
        Assert.Equal(1UL, cpu.Cr0 & 0x80000001);
        Assert.Equal(0UL, cpu.Efer);
        Assert.Equal(0UL, cpu.Rflags & (0x200 | 0x20000));
        foreach (var s in new[] { cpu.Cs, cpu.Ds, cpu.Es, cpu.Fs, cpu.Gs, cpu.Ss })
        {
            Assert.Equal(0UL, s.Base);
            Assert.Equal(0xFFFFFFFFu, s.Limit);
            Assert.True(s.DefaultBig && s.Present && !s.Long);
        }
        Assert.Equal(0xB, cpu.Cs.Type);
        Assert.Equal(0x3, cpu.Ds.Type);
    }

    [Fact]
    public void Info_block_has_memory_command_line_modules_memory_map_and_loader_name()
    {
        using var kernel = TestKernel.Build();
        var moduleA = new MultibootModule(new BootFile("a.bin", [1, 2, 3, 4, 5]), "first --x");
        var moduleB = new MultibootModule(new BootFile("b.bin", Enumerable.Range(0, 5000).Select(i => (byte)i).ToArray()));
        var result = MultibootLoader.Load(_memory, MultibootImage.Parse(kernel.Bytes, "kernel.elf"), _map,
            "console=ttyS0 test=1", [moduleA, moduleB]);
        ulong info = result.InfoAddress;
        uint flags = _memory.Read<uint>(info);
        Assert.Equal(1u | 4 | 8 | 64 | 512, flags);

        Assert.Equal(639u, _memory.Read<uint>(info + 4));
        Assert.Equal((uint)((Ram - 0x100000) / 1024), _memory.Read<uint>(info + 8));
        Assert.Equal("kernel.elf console=ttyS0 test=1", Bytes.CString(_memory, _memory.Read<uint>(info + 16)));
        Assert.Equal("hv", Bytes.CString(_memory, _memory.Read<uint>(info + 64)));

        Assert.Equal(2u, _memory.Read<uint>(info + 20));
        ulong mods = _memory.Read<uint>(info + 24);
        uint previousEnd = (uint)result.KernelEnd;
        foreach (var (module, i) in new[] { moduleA, moduleB }.Select((m, i) => (m, i)))
        {
            ulong entry = mods + (ulong)i * 16;
            uint start = _memory.Read<uint>(entry), end = _memory.Read<uint>(entry + 4);
            Assert.Equal(0u, start % 4096);
            Assert.True(start >= previousEnd);
            Assert.Equal((uint)module.File.Data.Length, end - start);
            Assert.Equal(module.File.Data, _memory.GetReadOnlySpan(start, (int)(end - start)).ToArray());
            string expected = module.CommandLine.Length == 0 ? module.File.Name : $"{module.File.Name} {module.CommandLine}";
            Assert.Equal(expected, Bytes.CString(_memory, _memory.Read<uint>(entry + 8)));
            previousEnd = end;
        }

        uint mmapLength = _memory.Read<uint>(info + 44);
        ulong mmap = _memory.Read<uint>(info + 48);
        var entries = new List<E820Entry>();
        for (ulong p = mmap; p < mmap + mmapLength; p += 4 + _memory.Read<uint>(p))
            entries.Add(new E820Entry(_memory.Read<ulong>(p + 4), _memory.Read<ulong>(p + 12), (E820Type)_memory.Read<uint>(p + 20)));
        Assert.Equal(_map.Entries, entries);
    }

    [Fact]
    public void A_out_kludge_addresses_load_a_flat_binary()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("flat.asm"), """
            bits 32
            org 0x200000
            header:
                dd 0x1BADB002
                dd 0x00010000
                dd -(0x1BADB002 + 0x00010000)
                dd header
                dd header
                dd load_end
                dd bss_end
                dd entry
            entry:
                hlt
                jmp entry
                times 100 db 0x5A
            load_end:
            bss_end equ load_end + 0x3000
            """);
        TestKernel.Run("nasm", "-f bin -o flat.bin flat.asm", dir.Path, "nasm");
        byte[] file = File.ReadAllBytes(dir.File("flat.bin"));
        _memory.GetWritableSpan(0x200000, 0x10000).Fill(0xCC);

        var result = MultibootLoader.Load(_memory, MultibootImage.Parse(file, "flat.bin"), _map);
        Assert.Equal(file, _memory.GetReadOnlySpan(0x200000, file.Length).ToArray());
        Assert.True(_memory.GetReadOnlySpan(0x200000 + (ulong)file.Length, 0x3000).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(0x200000UL + 32, result.Cpu.Rip);
        Assert.Equal(0x200000UL + (ulong)file.Length + 0x3000, result.KernelEnd);
    }

    [Fact]
    public void A_bad_checksum_is_refused()
    {
        using var kernel = TestKernel.Build();
        byte[] file = kernel.Bytes;
        int header = file.AsSpan().IndexOf(new byte[] { 0x02, 0xB0, 0xAD, 0x1B });
        Assert.True(header > 0);
        file[header + 8] ^= 0x10;
        var e = Assert.Throws<BootImageException>(() => MultibootImage.Parse(file, "kernel.elf"));
        Assert.StartsWith("kernel.elf: bad multiboot header", e.Message);
    }

    [Fact]
    public void An_unknown_required_flag_is_refused()
    {
        using var kernel = TestKernel.Build(flags: 0x3 | 0x20);
        Assert.Contains("requires features", Assert.Throws<BootImageException>(() => MultibootImage.Parse(kernel.Bytes, "k")).Message);
    }

    [Fact]
    public void A_file_without_a_header_or_an_elf_without_address_fields_is_refused()
    {
        Assert.Contains("no multiboot header",
            Assert.Throws<BootImageException>(() => MultibootImage.Parse(new byte[9000], "zeros")).Message);
        var notElf = new byte[64];
        BitConverter.TryWriteBytes(notElf.AsSpan(0), 0x1BADB002u);
        BitConverter.TryWriteBytes(notElf.AsSpan(8), unchecked(0u - 0x1BADB002u));
        Assert.Contains("not an ELF file",
            Assert.Throws<BootImageException>(() => MultibootImage.Parse(notElf, "blob")).Message);
    }

    [Fact]
    public void A_segment_outside_usable_ram_or_over_the_boot_information_is_refused()
    {
        using var high = TestKernel.Build(physical: 0x8000000);
        var image = MultibootImage.Parse(high.Bytes, "high.elf");
        Assert.Contains("does not fit", Assert.Throws<BootImageException>(() => MultibootLoader.Load(_memory, image, _map)).Message);

        using var low = TestKernel.Build(physical: 0x30000);
        image = MultibootImage.Parse(low.Bytes, "low.elf");
        Assert.Contains("overlaps the boot information",
            Assert.Throws<BootImageException>(() => MultibootLoader.Load(_memory, image, _map)).Message);
    }

    [Fact]
    public void An_elf64_segment_above_4_GiB_is_refused()
    {
        using var kernel = TestKernel.Build(elf64: true);
        byte[] file = kernel.Bytes;
        // Move the first program header's p_paddr (ELF64: e_phoff at 32, p_paddr at 24) above 4 GiB.
        ulong phoff = file.U64(32);
        BitConverter.TryWriteBytes(file.AsSpan((int)phoff + 24), 0x1_0010_0000UL);
        Assert.Contains("below 4 GiB",
            Assert.Throws<BootImageException>(() => MultibootImage.Parse(file, "k64")).Message);
    }
}
