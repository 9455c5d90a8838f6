namespace Hypervisor.Boot;

/// <summary>
/// Where the loaders put what they build in guest memory. The low addresses sit in conventional memory below the
/// EBDA, which a direct-boot guest treats as free once it has copied what it needs (Linux copies boot_params and
/// the command line first thing; multiboot kernels are told where the info block is).
/// </summary>
public static class BootMemoryLayout
{
    /// <summary>Boot GDT (null, null, __BOOT_CS 0x10, __BOOT_DS 0x18, TSS 0x20).</summary>
    public const ulong Gdt = 0x500;

    /// <summary>Linux boot_params ("zero page"), one page.</summary>
    public const ulong ZeroPage = 0x7000;

    /// <summary>Initial stack pointer; Linux sets its own, but a push before that must hit RAM.</summary>
    public const ulong BootStackTop = 0x8FF0;

    /// <summary>PML4, then the PDPT, then four page directories: an identity map of the first 4 GiB.</summary>
    public const ulong PageTables = 0x9000;
    public const ulong PageTablesEnd = 0xF000;

    /// <summary>Linux command line; protocol 2.06+ kernels accept up to cmdline_size bytes.</summary>
    public const ulong CommandLine = 0x20000;
    public const ulong CommandLineEnd = 0x30000;

    /// <summary>Multiboot info block, memory map, module list and strings.</summary>
    public const ulong MultibootInfo = 0x30000;
    public const ulong MultibootInfoEnd = 0x9F000;

    /// <summary>Extended BIOS data area and everything up to 1 MiB: reserved in the E820 map.</summary>
    public const ulong BiosAreaStart = 0x9FC00;
    public const ulong BiosAreaEnd = 0x10_0000;

    /// <summary>
    /// ACPI tables. The RSDP must lie on a 16-byte boundary in 0xE0000-0xFFFFF for an OS that searches for it
    /// (ACPI 6.x, 5.2.5.1); the other tables follow it.
    /// </summary>
    public const ulong AcpiTables = 0xE0000;
    public const ulong AcpiTablesEnd = 0xF0000;

    /// <summary>
    /// MP floating pointer and configuration table: the BIOS ROM range 0xF0000-0xFFFFF is one of the three places
    /// an OS searches (MP Specification 1.4, 4.1).
    /// </summary>
    public const ulong MpTable = 0xF0000;
    public const ulong MpTableEnd = 0x10_0000;

    /// <summary>Conventional start of a protected-mode kernel.</summary>
    public const ulong OneMiB = 0x10_0000;
}
