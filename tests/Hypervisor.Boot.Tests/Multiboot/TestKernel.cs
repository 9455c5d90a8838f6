using System.Globalization;
using Hypervisor.Boot.Tests.Support;

namespace Hypervisor.Boot.Tests.Multiboot;

/// <summary>
/// Small multiboot kernels assembled with nasm and linked with GNU ld at test time, so the ELF files are what
/// real toolchains produce; nm gives the symbol addresses to check placement against.
/// </summary>
internal sealed class TestKernel : IDisposable
{
    public const string Source = """
        bits 32
        section .multiboot
        align 4
            dd 0x1BADB002
            dd FLAGS
            dd -(0x1BADB002 + FLAGS)
        section .text
        global _start
        _start:
            mov esp, stack_top
        halt:
            hlt
            jmp halt
        section .data
        global message
        message: db "hv multiboot test", 0
        section .bss
        align 16
        global stack
        stack: resb 16384
        global stack_top
        stack_top:
        """;

    private readonly TempDirectory _dir = new();

    public string Path => _dir.File("kernel.elf");
    public byte[] Bytes => File.ReadAllBytes(Path);

    /// <param name="flags">The multiboot header flags.</param>
    /// <param name="physical">Where the image is loaded.</param>
    /// <param name="virtualBase">Where it is linked to run (a higher-half kernel), or the physical address.</param>
    public static TestKernel Build(uint flags = 0x3, ulong physical = 0x100000, ulong? virtualBase = null, bool elf64 = false)
    {
        var kernel = new TestKernel();
        string dir = kernel._dir.Path;
        File.WriteAllText(System.IO.Path.Combine(dir, "kernel.asm"), $"%define FLAGS 0x{flags:x}\n" + Source);
        ulong vma = virtualBase ?? physical;
        File.WriteAllText(System.IO.Path.Combine(dir, "link.ld"), $$"""
            ENTRY(_start)
            SECTIONS {
              . = 0x{{vma:x}};
              .text : AT(0x{{physical:x}}) { *(.multiboot) *(.text) }
              .data ALIGN(0x1000) : AT(0x{{physical:x}} + (ADDR(.data) - 0x{{vma:x}})) { *(.data) }
              .bss : AT(0x{{physical:x}} + (ADDR(.bss) - 0x{{vma:x}})) { *(.bss) }
            }
            """);
        Run("nasm", $"-f {(elf64 ? "elf64" : "elf32")} -o kernel.o kernel.asm", dir, "nasm");
        Run("ld", $"-m {(elf64 ? "elf_x86_64" : "elf_i386")} -T link.ld -o kernel.elf kernel.o", dir, "binutils");
        return kernel;
    }

    /// <summary>Address of a symbol, from nm.</summary>
    public ulong Symbol(string name)
    {
        var result = Run("nm", "kernel.elf", _dir.Path, "binutils");
        foreach (var line in result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 3 && parts[2] == name) return ulong.Parse(parts[0], NumberStyles.HexNumber);
        }
        Assert.Fail($"nm found no symbol {name}: {result}");
        return 0;
    }

    public static ExternalTool.Result Run(string tool, string arguments, string dir, string package)
    {
        var result = ExternalTool.Run(tool, arguments, dir, package);
        Assert.True(result.ExitCode == 0, $"{tool} {arguments}: {result}");
        return result;
    }

    public void Dispose() => _dir.Dispose();
}
