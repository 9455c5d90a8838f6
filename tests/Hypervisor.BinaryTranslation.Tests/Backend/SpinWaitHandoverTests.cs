using Hypervisor.BinaryTranslation.Backend;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Hypervisor;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Backend;

/// <summary>
/// vCPUs take turns on one execution lock; a guest spinning with PAUSE must hand its turn to the vCPU it waits
/// for (QEMU TCG's helper_pause). The shape is SeaBIOS's smp_scan: the BSP starts the AP with INIT/SIPI, then
/// releases the shared lock and takes it back two instructions later, over and over, until the AP has been
/// through it.
/// </summary>
public class SpinWaitHandoverTests
{
    private const ulong Code = 0x10000;
    private const uint SharedLock = 0x500, ApDone = 0x504, ApEdx = 0x508;
    private const uint ApicBase = 0xFEE0_0000;

    [Fact]
    public void TheBspsPauseLoopLetsTheApTakeTheSharedLock()
    {
        // Slices that never run out: only the hand-over at PAUSE can let the AP run.
        using var vm = new BtTestVm(cpus: 2, options: new BtOptions { SliceInstructions = long.MaxValue / 4 });
        vm.Load(Code, 32, a =>
        {
            var wait = a.CreateLabel();
            var spin = a.CreateLabel();
            a.mov(__dword_ptr[SharedLock], 1);
            a.mov(__dword_ptr[ApicBase + 0xF0], 0x1FF); // software-enable the local APIC
            a.mov(__dword_ptr[ApicBase + 0x310], 1 << 24); // destination: APIC ID 1
            a.mov(__dword_ptr[ApicBase + 0x300], 0x4500); // INIT
            a.mov(__dword_ptr[ApicBase + 0x300], 0x4609); // SIPI, vector 9 (0x9000)
            a.Label(ref wait);
            a.mov(__dword_ptr[SharedLock], 0);
            a.Label(ref spin);
            a.pause();
            a.@lock.bts(__dword_ptr[SharedLock], 0);
            a.jc(spin);
            a.cmp(__dword_ptr[ApDone], 0);
            a.je(wait);
            a.@out(dx, al);
            a.hlt();
        });
        vm.Load(0x9000, 16, a =>
        {
            var spin = a.CreateLabel();
            a.mov(__dword_ptr[ApEdx], edx);
            a.Label(ref spin);
            a.pause();
            a.@lock.bts(__dword_ptr[SharedLock], 0);
            a.jc(spin);
            a.mov(__dword_ptr[ApDone], 1);
            a.mov(__dword_ptr[SharedLock], 0);
            a.cli();
            a.hlt();
        });
        var bsp = BtTestVm.Flat32(Code);
        bsp.Rdx = BtTestVm.ExitPort;
        vm.Vcpus[0].SetState(bsp);
        VcpuExit exit = default;
        var threads = new[]
        {
            new Thread(() => exit = vm.Vcpus[0].Run()) { IsBackground = true },
            new Thread(() => vm.Vcpus[1].Run()) { IsBackground = true },
        };
        foreach (var t in threads) t.Start();
        bool finished = threads[0].Join(TimeSpan.FromSeconds(30));
        // Both threads must be gone before the VM's memory is freed, whatever happened.
        vm.KickAll();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromSeconds(10)));

        Assert.True(finished, "the BSP never saw the AP take the lock");
        Assert.Equal(VcpuExitReason.Kicked, exit.Reason);
        Assert.Equal(1u, vm.Memory.Read<uint>(ApDone));
        // INIT leaves the processor signature (CPUID leaf 1 EAX) in EDX, as RESET does.
        Assert.Equal(vm.Vcpus[1].Context.Cpuid.Signature, vm.Memory.Read<uint>(ApEdx));
    }

    [Fact]
    public void ALoneVcpuKeepsItsTurnAcrossPause()
    {
        using var vm = new BtTestVm();
        vm.Load(Code, 32, a =>
        {
            var loop = a.CreateLabel();
            a.mov(ecx, 100_000);
            a.Label(ref loop);
            a.pause();
            a.dec(ecx);
            a.jnz(loop);
            a.@out(dx, al);
            a.hlt();
        });
        var s = BtTestVm.Flat32(Code);
        s.Rdx = BtTestVm.ExitPort;
        vm.Vcpus[0].SetState(s);
        var exit = vm.RunUntilExit(0);
        Assert.Equal(VcpuExitReason.Kicked, exit.Reason);
        Assert.Equal(0UL, vm.Vcpus[0].GetState().Rcx);
        // Nobody waited: one turn, not one per PAUSE.
        Assert.Equal(1, vm.Vm.ExecutionLock.CompletedTurns);
    }
}
