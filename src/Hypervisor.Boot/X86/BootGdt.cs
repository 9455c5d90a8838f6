using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.X86;

/// <summary>
/// The GDT a directly booted kernel starts with. The Linux boot protocol (boot.rst, "32-bit/64-bit boot
/// protocol") requires flat 4 GiB descriptors at __BOOT_CS (0x10, execute/read) and __BOOT_DS (0x18,
/// read/write); multiboot only needs some flat segments, so it uses the same table. A TSS descriptor at 0x20
/// gives TR a real descriptor, which hardware virtualization checks on entry.
/// </summary>
public static class BootGdt
{
    public const ushort CodeSelector = 0x10;
    public const ushort DataSelector = 0x18;
    public const ushort TssSelector = 0x20;

    /// <summary>Five 8-byte slots plus the upper half of the 16-byte long-mode TSS descriptor.</summary>
    public const int Size = 6 * 8;

    // Accessed bits are preset so the CPU never writes the descriptors back (SDM Vol. 3, 3.4.5.1).
    internal const ulong Code32 = 0x00CF_9B00_0000_FFFF;
    internal const ulong Code64 = 0x00AF_9B00_0000_FFFF;
    internal const ulong Data = 0x00CF_9300_0000_FFFF;
    internal const ulong BusyTss = 0x0000_8B00_0000_0067;

    /// <summary>Writes the table at <see cref="BootMemoryLayout.Gdt"/> and sets the state's segments and GDTR.</summary>
    public static void Install(GuestMemory memory, CpuState state, bool longMode)
    {
        ulong code = longMode ? Code64 : Code32;
        ulong[] table = [0, 0, code, Data, BusyTss, 0];
        var bytes = new byte[Size];
        for (int i = 0; i < table.Length; i++)
            BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), table[i]);
        memory.Load(BootMemoryLayout.Gdt, bytes);

        state.Gdtr = new DescriptorTableRegister { Base = BootMemoryLayout.Gdt, Limit = Size - 1 };
        state.Idtr = new DescriptorTableRegister { Base = 0, Limit = 0 };
        state.Cs = SegmentRegister.FromDescriptor(CodeSelector, code);
        var data = SegmentRegister.FromDescriptor(DataSelector, Data);
        state.Ds = state.Es = state.Fs = state.Gs = state.Ss = data;
        state.Tr = SegmentRegister.FromDescriptor(TssSelector, BusyTss);
        state.Ldtr = new SegmentRegister { Type = 2, Present = true, Limit = 0xFFFF, Unusable = true };
    }
}
