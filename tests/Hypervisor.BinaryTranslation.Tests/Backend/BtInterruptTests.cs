using Hypervisor.Platform.Hypervisor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Backend;

/// <summary>
/// Interrupts and exceptions through the run loop, in a flat 32-bit guest with an IDT: the LAPIC timer wakes
/// HLT, an interrupt raised while IF = 0 is taken after STI and the one instruction it shadows, and a fault
/// reaches its IDT handler.
/// </summary>
public class BtInterruptTests
{
    private const ulong Code = 0x10000;
    private const uint Idt = 0x20000;
    private const uint Gdt = 0x21000;
    private const uint Counter = 0x5000;
    private const uint ReturnEip = 0x5004;
    private const uint Marker = 0x5008;
    private const uint ApicBase = 0xFEE0_0000;

    /// <summary>A GDT with flat code (0x08) and data (0x10), and an IDT whose gates all point at <paramref name="handlers"/>.</summary>
    private static void SetUpTables(BtTestVm vm, IReadOnlyDictionary<int, ulong> handlers)
    {
        vm.Memory.Write<ulong>(Gdt, 0);
        vm.Memory.Write<ulong>(Gdt + 8, 0x00CF_9A00_0000_FFFF);
        vm.Memory.Write<ulong>(Gdt + 16, 0x00CF_9200_0000_FFFF);
        foreach (var (vector, handler) in handlers)
        {
            // 32-bit interrupt gate, present, DPL 0, selector 0x08.
            ulong gate = (handler & 0xFFFF) | (0x08UL << 16) | (0x8E00UL << 32) | ((handler >> 16) << 48);
            vm.Memory.Write<ulong>(Idt + (ulong)vector * 8, gate);
        }
    }

    /// <summary>Runs vCPU 0 in flat 32-bit protected mode from <see cref="Code"/> until it exits.</summary>
    private static VcpuExit RunFromCode(BtTestVm vm)
    {
        vm.Vcpus[0].SetState(BtTestVm.Flat32(Code));
        return vm.RunUntilExit(0);
    }

    /// <summary>Asks the test VM to stop (a store to its exit MMIO page), then spins until it does.</summary>
    private static void ExitRun(Assembler a)
    {
        var spin = a.CreateLabel();
        a.mov(__dword_ptr[(uint)BtTestVm.ExitMmio], 1);
        a.Label(ref spin);
        a.jmp(spin);
    }

    private static void LoadTables(Assembler a)
    {
        // lgdt/lidt take a 6-byte pseudo-descriptor; build both on the stack.
        a.push(Gdt);
        a.push(23u << 16);
        a.lgdt(__[esp + 2]);
        a.add(esp, 8);
        a.push(Idt);
        a.push((uint)(256 * 8 - 1) << 16);
        a.lidt(__[esp + 2]);
        a.add(esp, 8);
    }

    [Fact]
    public void TheLapicTimerWakesHltAndItsHandlerRuns()
    {
        using var vm = new BtTestVm();
        const ulong handler = Code + 0x800;
        SetUpTables(vm, new Dictionary<int, ulong> { [0x40] = handler });
        vm.Load(Code, 32, a =>
        {
            var wait = a.CreateLabel();
            LoadTables(a);
            a.mov(__dword_ptr[ApicBase + 0xF0], 0x1FF); // SVR: software-enable
            a.mov(__dword_ptr[ApicBase + 0x3E0], 0xB); // divide by 1
            a.mov(__dword_ptr[ApicBase + 0x320], 0x2_0040); // LVT timer: periodic, vector 0x40
            a.mov(__dword_ptr[ApicBase + 0x380], 1_000_000); // 1 ms at the 1 GHz bus
            a.Label(ref wait);
            a.sti();
            a.hlt();
            a.cmp(__dword_ptr[Counter], 5);
            a.jb(wait);
            ExitRun(a);
        });
        vm.Load(handler, 32, a =>
        {
            a.inc(__dword_ptr[Counter]);
            a.mov(__dword_ptr[ApicBase + 0xB0], 0); // EOI
            a.iretd();
        });
        var exit = RunFromCode(vm);
        Assert.Equal(VcpuExitReason.Kicked, exit.Reason);
        Assert.True(vm.Memory.Read<uint>(Counter) >= 5);
    }

    [Fact]
    public void AnInterruptPendingAtAMovSsIsTakenAfterTheInstructionItShadows()
    {
        using var vm = new BtTestVm();
        const ulong handler = Code + 0x800;
        SetUpTables(vm, new Dictionary<int, ulong> { [0x50] = handler });
        vm.Load(Code, 32, a =>
        {
            LoadTables(a);
            a.mov(__dword_ptr[ApicBase + 0xF0], 0x1FF);
            a.sti();
            a.nop();
            a.mov(eax, 0x10);
            a.mov(__dword_ptr[ApicBase + 0x300], 0x4_0050); // self IPI, vector 0x50: pending from here
            a.mov(ss, ax); // ends the block; the interrupt waits for the next instruction
            a.mov(__dword_ptr[Marker], 0x5AD0);
            a.nop();
            ExitRun(a);
        });
        ulong afterShadow = FindAfterMarkerStore(vm);
        vm.Load(handler, 32, a =>
        {
            a.mov(eax, __dword_ptr[esp]);
            a.mov(__dword_ptr[ReturnEip], eax);
            a.mov(eax, __dword_ptr[Marker]);
            a.mov(__dword_ptr[Counter], eax);
            a.mov(__dword_ptr[ApicBase + 0xB0], 0);
            a.iretd();
        });
        Assert.Equal(VcpuExitReason.Kicked, RunFromCode(vm).Reason);
        Assert.Equal(0x5AD0u, vm.Memory.Read<uint>(Counter)); // the shadowed store had happened
        Assert.Equal((uint)afterShadow, vm.Memory.Read<uint>(ReturnEip)); // and nothing after it
    }

    [Fact]
    public void AnInterruptRaisedWithIfClearWaitsForIfAndIsTakenAtTheFirstBoundaryWithIfSet()
    {
        using var vm = new BtTestVm();
        const ulong handler = Code + 0x800;
        SetUpTables(vm, new Dictionary<int, ulong> { [0x50] = handler });
        vm.Load(Code, 32, a =>
        {
            var loop = a.CreateLabel();
            LoadTables(a);
            a.cli();
            a.mov(__dword_ptr[ApicBase + 0xF0], 0x1FF);
            a.mov(__dword_ptr[ApicBase + 0x300], 0x4_0050); // pending while IF = 0
            a.mov(ecx, 20_000);
            a.Label(ref loop);
            a.dec(ecx);
            a.jnz(loop);
            a.mov(__dword_ptr[Marker], 0x5AD0);
            a.pushfd();
            a.or(__dword_ptr[esp], 0x200);
            a.popfd(); // IF = 1 (no shadow): taken right after
            a.mov(__dword_ptr[Marker], 0xBAD);
            ExitRun(a);
        });
        vm.Load(handler, 32, a =>
        {
            a.mov(eax, __dword_ptr[Marker]);
            a.mov(__dword_ptr[Counter], eax);
            a.mov(__dword_ptr[ApicBase + 0xB0], 0);
            a.iretd();
        });
        Assert.Equal(VcpuExitReason.Kicked, RunFromCode(vm).Reason);
        Assert.Equal(0x5AD0u, vm.Memory.Read<uint>(Counter));
    }

    [Fact]
    public void AFaultIsDeliveredThroughTheIdtWithTheFaultingEip()
    {
        using var vm = new BtTestVm();
        const ulong handler = Code + 0x800;
        SetUpTables(vm, new Dictionary<int, ulong> { [6] = handler });
        vm.Load(Code, 32, a =>
        {
            LoadTables(a);
            a.ud2();
        });
        vm.Load(handler, 32, a =>
        {
            a.mov(eax, __dword_ptr[esp]);
            a.mov(__dword_ptr[ReturnEip], eax);
            ExitRun(a);
        });
        Assert.Equal(VcpuExitReason.Kicked, RunFromCode(vm).Reason);
        uint ud2At = vm.Memory.Read<uint>(ReturnEip);
        Assert.Equal(0x0B0Fu, vm.Memory.Read<ushort>(ud2At)); // the return address is the UD2 itself
    }

    [Fact]
    public void AnExceptionWithoutAnIdtEndsInATripleFaultShutdown()
    {
        using var vm = new BtTestVm();
        vm.Load(Code, 32, a =>
        {
            a.push(0u);
            a.push(0u);
            a.lidt(__[esp + 2]); // an empty IDT: every delivery faults
            a.ud2();
        });
        var exit = RunFromCode(vm);
        Assert.Equal(VcpuExitReason.Shutdown, exit.Reason);
        Assert.Contains("triple fault", exit.Message);
        Assert.Contains("RIP=", exit.Message);
    }

    /// <summary>The address right after the 10-byte <c>mov dword [Marker], imm32</c> that follows STI.</summary>
    private static ulong FindAfterMarkerStore(BtTestVm vm)
    {
        // C7 05 <Marker> <0x5AD0>: search the code for the store.
        for (ulong p = Code; p < Code + 0x200; p++)
            if (vm.Memory.Read<ushort>(p) == 0x05C7 && vm.Memory.Read<uint>(p + 2) == Marker && vm.Memory.Read<uint>(p + 6) == 0x5AD0)
                return p + 10;
        throw new InvalidOperationException("marker store not found");
    }
}
