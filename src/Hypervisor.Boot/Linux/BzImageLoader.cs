using System.Buffers.Binary;
using System.Text;
using Hypervisor.Boot.E820;
using Hypervisor.Boot.X86;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Linux;

/// <summary>
/// Loads a bzImage the way a boot loader does for the 32-bit and 64-bit boot protocols
/// (Documentation/arch/x86/boot.rst): protected-mode kernel in RAM, boot_params filled from the setup header,
/// command line and initrd placed, and the boot vCPU set up at the chosen entry point.
/// </summary>
public static class BzImageLoader
{
    private const ulong PageSize = 0x1000;

    /// <summary>heap_end_ptr: the setup heap ends at 0xE000 in the real-mode segment (boot.rst's own example).</summary>
    private const ushort HeapEndPointer = 0xE000 - 0x200;

    /// <summary>vid_mode 0xFFFF: "normal" 80x25 text mode, i.e. do not ask.</summary>
    private const ushort NormalVgaMode = 0xFFFF;

    public static LinuxBootResult Load(GuestMemory memory, BzImage kernel, LinuxBootOptions options)
    {
        if (options.Entry == LinuxEntryMode.LongMode64 && !kernel.Supports64BitEntry)
            throw new BootImageException(kernel.Name,
                "the kernel has no 64-bit entry point (boot protocol 2.12 with XLF_KERNEL_64 is needed); boot it through the 32-bit entry");

        var map = options.MemoryMap;
        ulong loadAddress = ChooseLoadAddress(kernel, map);
        ulong kernelEnd = RequiredEnd(kernel, loadAddress);
        if (!map.IsUsable(loadAddress, kernelEnd - loadAddress))
            throw new BootImageException(kernel.Name,
                $"the kernel needs RAM from 0x{loadAddress:x} to 0x{kernelEnd:x} ({Mib(kernelEnd)} MiB) to decompress and start, " +
                $"but usable RAM there ends at 0x{loadAddress + map.UsableFrom(loadAddress):x}; give the guest more memory");
        memory.Load(loadAddress, kernel.ProtectedModeKernel);

        ulong commandLine = WriteCommandLine(memory, kernel, options.CommandLine);
        var (initrdAddress, initrdSize) = PlaceInitrd(memory, kernel, options.Initrd, map, kernelEnd);

        var bootParams = BuildBootParams(kernel, options, loadAddress, commandLine, initrdAddress, initrdSize);
        memory.Load(BootMemoryLayout.ZeroPage, bootParams);

        ulong entry = options.Entry == LinuxEntryMode.LongMode64 ? loadAddress + 0x200 : loadAddress;
        var cpu = options.Entry == LinuxEntryMode.LongMode64
            ? EntryState.LongMode64(memory, entry)
            : EntryState.ProtectedMode32(memory, (uint)entry);
        cpu.Rsi = BootMemoryLayout.ZeroPage;
        return new LinuxBootResult(cpu, loadAddress, kernelEnd, entry, BootMemoryLayout.ZeroPage, commandLine,
            initrdAddress, initrdSize);
    }

    /// <summary>
    /// A relocatable kernel goes to its pref_address (2.10+) when that is a sane, aligned address in RAM, so it
    /// need not move itself before decompressing; anything else goes to the traditional 1 MiB.
    /// </summary>
    private static ulong ChooseLoadAddress(BzImage kernel, E820Map map)
    {
        ulong preferred = kernel.PreferredAddress;
        uint alignment = kernel.KernelAlignment;
        bool sane = kernel.Relocatable && kernel.Protocol >= 0x020A
                    && preferred >= BootMemoryLayout.OneMiB && preferred < PcMemoryLayout.FourGiB
                    && alignment != 0 && (alignment & (alignment - 1)) == 0 && preferred % alignment == 0
                    && map.IsUsable(preferred, RequiredEnd(kernel, preferred) - preferred);
        return sane ? preferred : BootMemoryLayout.OneMiB;
    }

    /// <summary>
    /// The end of the memory the kernel uses while starting: the decompressor runs from the load address rounded
    /// up to kernel_alignment, but never below LOAD_PHYSICAL_ADDR (= pref_address), and needs init_size bytes
    /// from there (boot.rst, init_size; arch/x86/boot/compressed/head_64.S).
    /// </summary>
    private static ulong RequiredEnd(BzImage kernel, ulong loadAddress)
    {
        ulong imageEnd = loadAddress + (ulong)kernel.ProtectedModeKernel.Length;
        if (kernel.InitSize == 0) return AlignUp(imageEnd, PageSize);
        ulong runtimeStart = kernel.PreferredAddress;
        if (kernel.Relocatable && kernel.KernelAlignment != 0)
            runtimeStart = Math.Max(AlignUp(loadAddress, kernel.KernelAlignment), kernel.PreferredAddress);
        return AlignUp(Math.Max(imageEnd, runtimeStart + kernel.InitSize), PageSize);
    }

    private static ulong WriteCommandLine(GuestMemory memory, BzImage kernel, string commandLine)
    {
        byte[] bytes = Encoding.ASCII.GetBytes(commandLine);
        if (Array.IndexOf(bytes, (byte)0) >= 0)
            throw new BootImageException(kernel.Name, "the kernel command line contains a NUL character");
        // cmdline_size excludes the terminating NUL (boot.rst, "cmdline_size").
        if ((ulong)bytes.Length > kernel.CommandLineSize)
            throw new BootImageException(kernel.Name,
                $"the command line is {bytes.Length} bytes; this kernel accepts at most {kernel.CommandLineSize}");
        if ((ulong)bytes.Length + 1 > BootMemoryLayout.CommandLineEnd - BootMemoryLayout.CommandLine)
            throw new BootImageException(kernel.Name, $"the command line is {bytes.Length} bytes, too long for hv");
        memory.Load(BootMemoryLayout.CommandLine, [.. bytes, 0]);
        return BootMemoryLayout.CommandLine;
    }

    /// <summary>
    /// The initrd goes as high as the kernel allows (initrd_addr_max) in usable RAM, page aligned and above
    /// everything the kernel needs while it starts, as boot.rst recommends.
    /// </summary>
    private static (ulong Address, ulong Size) PlaceInitrd(GuestMemory memory, BzImage kernel, BootFile? initrd,
        E820Map map, ulong kernelEnd)
    {
        if (initrd is null || initrd.Data.Length == 0) return (0, 0);
        ulong size = (ulong)initrd.Data.Length;
        ulong limit = Math.Min((ulong)kernel.InitrdAddressMax + 1, PcMemoryLayout.FourGiB);
        for (int i = map.Entries.Count - 1; i >= 0; i--)
        {
            var e = map.Entries[i];
            if (e.Type != E820Type.Ram) continue;
            ulong top = Math.Min(e.End, limit);
            if (top < size) continue;
            ulong address = (top - size) & ~(PageSize - 1);
            if (address < e.Address || address < kernelEnd) continue;
            memory.Load(address, initrd.Data);
            return (address, size);
        }
        throw new BootImageException(initrd.Name,
            $"the initrd ({Mib(size)} MiB) does not fit in guest RAM between the kernel's end at 0x{kernelEnd:x} " +
            $"and the highest address this kernel accepts for it, 0x{limit - 1:x}; give the guest more memory");
    }

    private static byte[] BuildBootParams(BzImage kernel, LinuxBootOptions options, ulong loadAddress,
        ulong commandLine, ulong initrdAddress, ulong initrdSize)
    {
        var zp = new byte[ZeroPage.Size];
        var span = zp.AsSpan();
        kernel.HeaderBytes.CopyTo(span[SetupHeader.Start..]);

        span[SetupHeader.TypeOfLoader] = SetupHeader.UndefinedLoader;
        span[SetupHeader.LoadFlags] |= SetupHeader.CanUseHeap;
        BinaryPrimitives.WriteUInt16LittleEndian(span[SetupHeader.HeapEndPtr..], HeapEndPointer);
        BinaryPrimitives.WriteUInt16LittleEndian(span[SetupHeader.VidMode..], NormalVgaMode);
        BinaryPrimitives.WriteUInt32LittleEndian(span[SetupHeader.Code32Start..], (uint)loadAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(span[SetupHeader.CmdLinePtr..], (uint)commandLine);
        BinaryPrimitives.WriteUInt32LittleEndian(span[SetupHeader.RamdiskImage..], (uint)initrdAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(span[SetupHeader.RamdiskSize..], (uint)initrdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(span[SetupHeader.HardwareSubarch..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(span[(SetupHeader.HardwareSubarch + 4)..], 0);
        // setup_data is a list the boot loader builds; hv passes none, whatever the file's header holds.
        BinaryPrimitives.WriteUInt64LittleEndian(span[0x250..], 0);

        if (options.AcpiRsdpAddress is { } rsdp && kernel.Protocol >= 0x020E)
            BinaryPrimitives.WriteUInt64LittleEndian(span[ZeroPage.AcpiRsdpAddr..], rsdp);

        var entries = options.MemoryMap.Entries;
        if (entries.Count > ZeroPage.E820MaxEntries)
            throw new BootImageException(kernel.Name, $"the memory map has {entries.Count} entries; boot_params holds {ZeroPage.E820MaxEntries}");
        span[ZeroPage.E820Entries] = (byte)entries.Count;
        for (int i = 0; i < entries.Count; i++)
        {
            var slot = span.Slice(ZeroPage.E820Table + i * ZeroPage.E820EntrySize, ZeroPage.E820EntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(slot, entries[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(slot[8..], entries[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(slot[16..], (uint)entries[i].Type);
        }
        return zp;
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) / alignment * alignment;

    private static ulong Mib(ulong bytes) => (bytes + 0xFFFFF) >> 20;
}
