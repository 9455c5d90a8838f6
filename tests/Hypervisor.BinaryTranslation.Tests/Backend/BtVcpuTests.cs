using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Hypervisor;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Backend;

/// <summary>The BT vCPU's run loop as the machine drives it: exits, kicks, the APIC page, INIT/SIPI, state.</summary>
public class BtVcpuTests
{
    private const ulong Code = 0x10000;

    [Fact]
    public void HltWithInterruptsDisabledOnTheOnlyCpuIsAHaltedExitWithTheRegisters()
    {
        using var vm = new BtTestVm();
        vm.Load(Code, 32, a =>
        {
            a.mov(eax, 0x1234_5678);
            a.cli();
            a.hlt();
        });
        vm.Vcpus[0].SetState(BtTestVm.Flat32(Code));
        var exit = vm.RunUntilExit(0);
        Assert.Equal(VcpuExitReason.Halted, exit.Reason);
        Assert.Contains("halted with interrupts disabled", exit.Message);
        Assert.Contains("RAX=0000000012345678", exit.Message);
        Assert.Equal(RunState.Halted, vm.Vcpus[0].GetState().RunState);
    }

    [Fact]
    public void AnMmioWriteReachesTheIoHandlerInlineAndAKickEndsRun()
    {
        using var vm = new BtTestVm();
        vm.Load(Code, 32, a =>
        {
            var spin = a.CreateLabel();
            a.mov(__dword_ptr[(uint)BtTestVm.ExitMmio], 0xC0FFEE);
            a.Label(ref spin);
            a.jmp(spin);
        });
        vm.Vcpus[0].SetState(BtTestVm.Flat32(Code));
        var exit = vm.RunUntilExit(0);
        Assert.Equal(VcpuExitReason.Kicked, exit.Reason);
        Assert.Contains((BtTestVm.ExitMmio, 0xC0FFEEUL), vm.Io.MmioWrites);
    }

    [Fact]
    public void AKickEndsAHaltThatOnlyAnInterruptCouldEnd()
    {
        using var vm = new BtTestVm();
        vm.Load(Code, 32, a =>
        {
            a.sti();
            a.hlt();
            a.ud2();
        });
        vm.Vcpus[0].SetState(BtTestVm.Flat32(Code));
        var timer = new Timer(_ => vm.KickAll(), null, 200, Timeout.Infinite);
        var exit = vm.RunUntilExit(0);
        timer.Dispose();
        Assert.Equal(VcpuExitReason.Kicked, exit.Reason);
        var state = vm.Vcpus[0].GetState();
        Assert.Equal(RunState.Halted, state.RunState);
        Assert.Equal(Code + 2, state.Rip); // after HLT, as the CPU leaves it
    }

    [Fact]
    public void TheApicPageIsTheRunningCpusOwnLocalApic()
    {
        using var vm = new BtTestVm(cpus: 2);
        vm.Load(Code, 32, a =>
        {
            var spin = a.CreateLabel();
            a.mov(__dword_ptr[0xFEE0_0080], 0x50); // TPR
            a.mov(eax, __dword_ptr[0xFEE0_0020]); // APIC ID
            a.mov(__dword_ptr[0x5000], eax);
            a.mov(eax, __dword_ptr[0xFEE0_0030]); // version
            a.mov(__dword_ptr[0x5004], eax);
            a.mov(__dword_ptr[(uint)BtTestVm.ExitMmio], 1);
            a.Label(ref spin);
            a.jmp(spin);
        });
        vm.Vcpus[0].SetState(BtTestVm.Flat32(Code));
        Assert.Equal(VcpuExitReason.Kicked, vm.RunUntilExit(0).Reason);
        Assert.Equal(0x50, vm.Chip.LapicFor(0).TaskPriority);
        Assert.Equal(0, vm.Chip.LapicFor(1).TaskPriority);
        Assert.Equal(0u, vm.Memory.Read<uint>(0x5000)); // BSP: APIC ID 0
        Assert.Equal(0x0005_0014u, vm.Memory.Read<uint>(0x5004));
        Assert.Equal(0x5UL, vm.Vcpus[0].GetState().Cr8); // CR8 is TPR[7:4]
        Assert.DoesNotContain(vm.Io.MmioWrites, w => w.Address >= 0xFEE0_0000 && w.Address < 0xFEE0_1000);
    }

    [Fact]
    public void InitSipiStartsAnApInRealModeAtTheVectorPage()
    {
        using var vm = new BtTestVm(cpus: 2);
        // The AP's trampoline at 0x9000 (SIPI vector 9): CS = 0x0900, IP = 0.
        vm.Load(0x9000, 16, a =>
        {
            a.mov(ax, 0x1234);
            a.mov(__word_ptr[0x600], ax);
            a.mov(ax, cs);
            a.mov(__word_ptr[0x602], ax);
            a.cli();
            a.hlt();
        });
        var ap = vm.Vcpus[1];
        Assert.Equal(RunState.WaitForSipi, ap.GetState().RunState);
        var thread = new Thread(() => ap.Run()) { IsBackground = true };
        thread.Start();
        Thread.Sleep(50);
        Assert.Equal(0, vm.Memory.Read<ushort>(0x600)); // nothing runs before the SIPI

        var bsp = vm.Chip.LapicFor(0);
        bsp.WriteRegister(0xF0, 0x1FF); // software-enable
        bsp.WriteRegister(0x310, 1u << 24);
        bsp.WriteRegister(0x300, 0x0000_4500); // INIT, assert
        bsp.WriteRegister(0x300, 0x0000_4609); // SIPI vector 9
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (vm.Memory.Read<ushort>(0x600) != 0x1234 && DateTime.UtcNow < deadline) Thread.Sleep(5);
        // The AP sleeps in HLT with IF = 0: the BSP could still wake it (NMI, INIT), so it waits, not exits.
        Thread.Sleep(50);
        Assert.True(thread.IsAlive);
        ap.Kick();
        Assert.True(thread.Join(TimeSpan.FromSeconds(10)));

        Assert.Equal(0x1234, vm.Memory.Read<ushort>(0x600));
        Assert.Equal(0x0900, vm.Memory.Read<ushort>(0x602));
        var state = ap.GetState();
        Assert.Equal(RunState.Halted, state.RunState);
        Assert.Equal(0x9000UL, state.Cs.Base);
        Assert.Equal(0UL, state.Cr0 & 1);
    }

    [Fact]
    public void StateRoundTripsWithTheLocalApic()
    {
        using var vm = new BtTestVm(cpus: 1);
        var s = BtTestVm.Flat32(0x1234);
        s.Rax = 0x1111;
        s[Gpr.R15] = 0; // 32-bit state
        s.Rflags = 0x202;
        s.Events.InterruptShadow = true;
        vm.Vcpus[0].SetState(s);
        var lapic = vm.Chip.LapicFor(0);
        lapic.WriteRegister(0xF0, 0x1FF);
        lapic.WriteRegister(0x80, 0x30);
        lapic.WriteRegister(0x350, 0x700); // LINT0 ExtINT
        var saved = vm.Vcpus[0].GetState();
        Assert.Equal(0x3UL, saved.Cr8);
        Assert.True(saved.Events.InterruptShadow);
        Assert.Equal(0x1FFu, BitConverter.ToUInt32(saved.LapicRegisters, 0xF0));

        using var other = new BtTestVm(cpus: 1);
        other.Vcpus[0].SetState(saved);
        var restored = other.Vcpus[0].GetState();
        Assert.Equal(saved.Rip, restored.Rip);
        Assert.Equal(saved.Rax, restored.Rax);
        Assert.Equal(saved.Rflags, restored.Rflags);
        Assert.Equal(saved.Cs.Selector, restored.Cs.Selector);
        Assert.Equal(saved.LapicRegisters, restored.LapicRegisters);
        Assert.Equal(0x30, other.Chip.LapicFor(0).TaskPriority);
        Assert.True(restored.Events.InterruptShadow);
    }

    [Fact]
    public void ABootStateWithoutLapicRegistersKeepsTheResetApic()
    {
        using var vm = new BtTestVm(cpus: 1);
        vm.Vcpus[0].SetState(BtTestVm.Flat32(Code));
        var lapic = vm.Chip.LapicFor(0);
        Assert.Equal(0x0005_0014u, lapic.ReadRegister(0x30));
        Assert.Equal(0x700u, lapic.ReadRegister(0x350)); // the BSP's LINT0 stays ExtINT for the PIC
        Assert.NotEqual(0UL, lapic.ApicBase & 0x100); // still the BSP
    }
}
