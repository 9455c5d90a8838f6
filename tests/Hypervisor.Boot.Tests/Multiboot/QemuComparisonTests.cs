using System.Text;
using Hypervisor.Boot.Multiboot;
using Hypervisor.Boot.Tests.Support;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.Multiboot;

/// <summary>
/// QEMU as a second opinion (TESTING.md, 2): a multiboot kernel prints the boot information it receives on the
/// serial port under QEMU's -kernel; hv's loader must hand over the same (formatted the same way from guest
/// memory here, since booting under hv needs a CPU backend).
/// </summary>
public class QemuComparisonTests
{
    private const string Reporter = """
        bits 32
        section .multiboot
        align 4
            dd 0x1BADB002, 0x3, -(0x1BADB002 + 0x3)
        section .text
        global _start
        _start:
            mov esp, stack_top
            mov esi, ebx
            mov edi, s_flags
            call puts
            mov eax, [esi]
            and eax, 0x24D          ; memory, cmdline, mods, mmap, boot loader name
            call puthex
            mov edi, s_upper        ; does mem_upper agree with the mmap's RAM range at 1 MiB?
            call puts
            mov ebx, [esi + 48]
            mov ecx, [esi + 44]
            add ecx, ebx
            xor eax, eax
        find:
            cmp ebx, ecx
            jae found
            cmp dword [ebx + 4], 0x100000
            jne next
            cmp dword [ebx + 20], 1
            jne next
            mov eax, [ebx + 12]
            shr eax, 10
            cmp eax, [esi + 8]
            sete al
            movzx eax, al
            jmp found
        next:
            add ebx, [ebx]
            add ebx, 4
            jmp find
        found:
            call puthex
            mov edi, s_cmdline
            call puts
            mov edi, [esi + 16]
            call puts
            mov edi, s_mmap
            call puts
            mov ebx, [esi + 48]     ; first memory map entry
            mov eax, [ebx + 4]
            call puthex
            mov eax, [ebx + 12]
            call puthex
            mov eax, [ebx + 20]
            call puthex
            call newline
            mov ecx, [esi + 20]
            mov ebx, [esi + 24]
        module:
            test ecx, ecx
            jz done
            mov edi, s_module
            call puts
            mov eax, [ebx + 4]
            sub eax, [ebx]
            call puthex             ; size
            mov eax, [ebx]
            and eax, 0xFFF
            call puthex             ; page offset
            mov edi, [ebx]
            movzx eax, byte [edi]
            call puthex             ; first byte
            mov edi, s_string
            call puts
            mov edi, [ebx + 8]
            call puts
            call newline
            add ebx, 16
            dec ecx
            jmp module
        done:
            mov dx, 0xF4
            mov al, 0x10
            out dx, al
            hlt
        puts:                       ; EDI = NUL-terminated string
            push eax
            push edx
            mov dx, 0x3F8
        .next:
            mov al, [edi]
            test al, al
            jz .end
            out dx, al
            inc edi
            jmp .next
        .end:
            pop edx
            pop eax
            ret
        puthex:                     ; EAX as 8 hex digits and a space
            push ecx
            push edx
            mov ecx, 8
            mov dx, 0x3F8
        .digit:
            rol eax, 4
            push eax
            and al, 0xF
            add al, '0'
            cmp al, '9'
            jbe .out
            add al, 'a' - '9' - 1
        .out:
            out dx, al
            pop eax
            dec ecx
            jnz .digit
            mov al, ' '
            out dx, al
            pop edx
            pop ecx
            ret
        newline:
            push eax
            push edx
            mov dx, 0x3F8
            mov al, 10
            out dx, al
            pop edx
            pop eax
            ret
        section .data
        s_flags: db "flags ", 0
        s_upper: db 10, "mem_upper_matches_mmap ", 0
        s_cmdline: db 10, "cmdline ", 0
        s_mmap: db 10, "mmap0 ", 0
        s_module: db "module ", 0
        s_string: db "string ", 0
        section .bss
        align 16
        stack: resb 4096
        stack_top:
        """;

    [Fact]
    public void The_info_block_matches_what_qemu_hands_the_same_kernel()
    {
        using var dir = new TempDirectory();
        File.WriteAllText(dir.File("kernel.asm"), Reporter);
        File.WriteAllText(dir.File("link.ld"), """
            ENTRY(_start)
            SECTIONS { . = 0x100000; .text : { *(.multiboot) *(.text) } .data : { *(.data) } .bss : { *(.bss) } }
            """);
        TestKernel.Run("nasm", "-f elf32 -o kernel.o kernel.asm", dir.Path, "nasm");
        TestKernel.Run("ld", "-m elf_i386 -T link.ld -o kernel.elf kernel.o", dir.Path, "binutils");
        File.WriteAllBytes(dir.File("one.bin"), [0x42, 1, 2, 3, 4, 5, 6]);
        File.WriteAllBytes(dir.File("two.bin"), Enumerable.Repeat((byte)0x99, 5000).ToArray());
        const string commandLine = "console=ttyS0 answer=42";

        var qemu = ExternalTool.Run("qemu-system-x86_64",
            "-accel tcg -m 64 -nodefaults -display none -serial stdio -no-reboot " +
            "-device isa-debug-exit,iobase=0xf4,iosize=0x04 " +
            $"-kernel kernel.elf -append \"{commandLine}\" -initrd \"one.bin arg1 arg2,two.bin\"",
            dir.Path, "qemu-system-x86");
        Assert.True(qemu.ExitCode == (0x10 << 1 | 1), $"the reporter did not finish under QEMU: {qemu}");

        using var memory = GuestMemory.CreatePc(64 << 20);
        var map = FirmwareTables.Write(memory, 1).MemoryMap;
        var result = MultibootLoader.Load(memory, MultibootImage.Load(dir.File("kernel.elf")), map, commandLine,
        [
            new MultibootModule(BootFile.Read(dir.File("one.bin")), "arg1 arg2"),
            new MultibootModule(BootFile.Read(dir.File("two.bin"))),
        ]);

        // The names differ only in being relative for QEMU (it ran in the directory) and absolute here.
        string hv = Report(memory, result.InfoAddress).Replace(dir.Path + "/", "");
        Assert.Equal(qemu.Output.Replace("\r", ""), hv);
    }

    private static bool UpperMatchesMemoryMap(GuestMemory memory, ulong info)
    {
        uint mmap = memory.Read<uint>(info + 48), end = mmap + memory.Read<uint>(info + 44);
        for (uint p = mmap; p < end; p += 4 + memory.Read<uint>(p))
            if (memory.Read<uint>(p + 4) == 0x100000 && memory.Read<uint>(p + 20) == 1)
                return memory.Read<uint>(p + 12) >> 10 == memory.Read<uint>(info + 8);
        return false;
    }

    /// <summary>What the reporter kernel prints, computed from the info block in guest memory.</summary>
    private static string Report(GuestMemory memory, ulong info)
    {
        static string Hex(uint value) => $"{value:x8} ";
        var text = new StringBuilder();
        text.Append("flags ").Append(Hex(memory.Read<uint>(info) & 0x24D));
        text.Append("\nmem_upper_matches_mmap ").Append(Hex(UpperMatchesMemoryMap(memory, info) ? 1u : 0u));
        text.Append("\ncmdline ").Append(Bytes.CString(memory, memory.Read<uint>(info + 16)));
        uint mmap = memory.Read<uint>(info + 48);
        text.Append("\nmmap0 ").Append(Hex(memory.Read<uint>(mmap + 4))).Append(Hex(memory.Read<uint>(mmap + 12)))
            .Append(Hex(memory.Read<uint>(mmap + 20))).Append('\n');
        uint count = memory.Read<uint>(info + 20), modules = memory.Read<uint>(info + 24);
        for (uint i = 0; i < count; i++)
        {
            uint entry = modules + i * 16, start = memory.Read<uint>(entry), end = memory.Read<uint>(entry + 4);
            text.Append("module ").Append(Hex(end - start)).Append(Hex(start & 0xFFF)).Append(Hex(memory.Read<byte>(start)))
                .Append("string ").Append(Bytes.CString(memory, memory.Read<uint>(entry + 8))).Append('\n');
        }
        return text.ToString();
    }
}
