using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.X86;

/// <summary>The boot vCPU's state at a kernel's first instruction, for the entry modes the loaders use.</summary>
public static class EntryState
{
    public const ulong Cr0ProtectionEnable = 1, Cr0ExtensionType = 1 << 4, Cr0Paging = 1UL << 31;
    public const ulong Cr4Pae = 1 << 5;
    public const ulong EferLme = 1 << 8, EferLma = 1 << 10;

    /// <summary>
    /// Flat 32-bit protected mode with paging off and interrupts disabled: the Linux 32-bit boot protocol and the
    /// multiboot machine state (Multiboot 0.6.96, 3.2). All general registers are zero.
    /// </summary>
    public static CpuState ProtectedMode32(GuestMemory memory, uint entry)
    {
        var state = Base();
        BootGdt.Install(memory, state, longMode: false);
        state.Cr0 = Cr0ProtectionEnable | Cr0ExtensionType;
        state.Rip = entry;
        return state;
    }

    /// <summary>
    /// 64-bit mode with the first 4 GiB identity mapped, as the Linux 64-bit boot protocol asks; interrupts off.
    /// </summary>
    public static CpuState LongMode64(GuestMemory memory, ulong entry)
    {
        var state = Base();
        BootGdt.Install(memory, state, longMode: true);
        state.Cr3 = IdentityPageTables.Build(memory);
        state.Cr4 = Cr4Pae;
        state.Efer = EferLme | EferLma;
        state.Cr0 = Cr0ProtectionEnable | Cr0ExtensionType | Cr0Paging;
        state.Rip = entry;
        return state;
    }

    private static CpuState Base()
    {
        // The reset state supplies the FPU/SSE defaults, APIC base and debug registers; the general registers are
        // cleared because the Linux 32-bit protocol requires EBP, EDI and EBX to be zero.
        var state = CpuState.CreateReset();
        Array.Clear(state.Gprs);
        state.Rflags = 0x2;
        state.Cr2 = state.Cr3 = state.Cr4 = state.Cr8 = 0;
        state.Efer = 0;
        state.Rsp = BootMemoryLayout.BootStackTop;
        state.RunState = RunState.Runnable;
        return state;
    }
}
