using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>IA-32e interrupt and exception delivery, IRETQ, SYSCALL/SYSRET and SWAPGS against Intel SDM Vol. 3, 6.14.</summary>
public class LongModeDeliveryTests
{
    private const ulong User = 0x1000, Int80 = 0x20000, Halt = 0x21000, GpHandler = 0x22000, DfHandler = 0x23000;

    private static SystemMachine Build()
    {
        var m = new SystemMachine();
        m.BuildLongMode();
        m.Load(Halt, 64, a => a.hlt());
        m.SetGate64(0x81, Halt, dpl: 3);
        return m;
    }

    /// <summary>
    /// A handler for <paramref name="vector"/> at <paramref name="address"/> that reads the error code into RCX and
    /// the saved RIP into RDX, then halts.
    /// </summary>
    private static void InstallErrorCodeReader(SystemMachine m, ulong address, int vector, int ist = 0)
    {
        m.Load(address, 64, a =>
        {
            a.mov(rcx, __qword_ptr[rsp]);
            a.mov(rdx, __qword_ptr[rsp + 8]);
            a.hlt();
        });
        m.SetGate64(vector, address, ist: ist);
    }

    [Fact]
    public void IntFromRing3SwitchesToRsp0AndIretqReturns()
    {
        using var m = Build();
        m.Load(Int80, 64, a =>
        {
            a.mov(rcx, __qword_ptr[rsp]);
            a.mov(rdx, __qword_ptr[rsp + 8]);
            a.mov(rsi, __qword_ptr[rsp + 24]);
            a.mov(rdi, __qword_ptr[rsp + 32]);
            a.mov(r8, rsp);
            a.mov(r9d, ss);
            a.add(rax, 1);
            a.iretq();
        });
        m.SetGate64(0x80, Int80, dpl: 3);
        m.Load(User, 64, a =>
        {
            a.mov(eax, 0x1234);
            a.@int(0x80);
            a.mov(rbx, rax);
            a.mov(r10d, ss);
            a.@int(0x81);
        });
        m.EnterUser64(User);
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(0x1235UL, c.Gpr(3));
        Assert.Equal(User + 5 + 2, c.Gpr(1));
        Assert.Equal((ulong)SystemMachine.UserCode64, c.Gpr(2));
        Assert.Equal(SystemMachine.UserStack, c.Gpr(6));
        Assert.Equal((ulong)SystemMachine.UserData, c.Gpr(7));
        Assert.Equal(SystemMachine.KernelStack - 40, c.Gpr(8));
        Assert.Equal(0UL, c.Gpr(9)); // SS = null selector with RPL 0 in ring 0
        Assert.Equal((ulong)SystemMachine.UserData, c.Gpr(10));
        Assert.Equal(0, c.Cpl);
    }

    [Fact]
    public void GeneralProtectionPushesErrorCodeAndFaultingRip()
    {
        using var m = Build();
        InstallErrorCodeReader(m, GpHandler, 13);
        m.Load(User, 64, a =>
        {
            a.nop();
            a.hlt(); // #GP(0) at CPL 3
        });
        m.EnterUser64(User);
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0UL, m.Cpu.Gpr(1));
        Assert.Equal(User + 1, m.Cpu.Gpr(2));
        Assert.Equal(0, m.Cpu.Cpl);
    }

    [Fact]
    public void IntThroughRing0GateFromRing3IsGpWithIdtErrorCode()
    {
        using var m = Build();
        InstallErrorCodeReader(m, GpHandler, 13);
        m.SetGate64(0x82, Halt, dpl: 0);
        m.Load(User, 64, a => a.@int(0x82));
        m.EnterUser64(User);
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0x82UL * 8 + 2, m.Cpu.Gpr(1));
        Assert.Equal(User, m.Cpu.Gpr(2));
    }

    [Fact]
    public void NotPresentGpGateDuringGpDeliveryIsDoubleFault()
    {
        using var m = Build();
        InstallErrorCodeReader(m, DfHandler, 8, ist: 1);
        m.SetGate64(13, GpHandler);
        m.WriteU64(SystemMachine.Idt + 13 * 16, m.ReadU64(SystemMachine.Idt + 13 * 16) & ~(1UL << 47));
        m.Load(User, 64, a => a.hlt());
        m.EnterUser64(User);
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0UL, m.Cpu.Gpr(1));
        Assert.Equal(User, m.Cpu.Gpr(2));
        Assert.Equal(SystemMachine.IstStack - 48, m.Cpu.Gpr(4)); // six slots on IST1
    }

    [Fact]
    public void FaultWhileDeliveringDoubleFaultIsTripleFault()
    {
        using var m = Build();
        var s = m.Cpu.Save();
        s.Idtr.Limit = 8 * 16 - 1; // vectors 0-7 only: #GP and #DF gates lie beyond the limit
        m.Cpu.Load(s);
        m.Load(User, 64, a => a.hlt());
        m.EnterUser64(User);
        m.Run();
        Assert.True(m.Cpu.ShutdownPending);
    }

    [Fact]
    public void ExternalInterruptUsesIstAndAlignsTheStack()
    {
        using var m = Build();
        m.SetGate64(0x20, Halt, ist: 1);
        m.SetGate64(0x21, Halt);
        var c = m.Cpu;
        c.Rflags |= FlagBits.IF;
        c.Gpr(4) = 0x7FFF8;
        InterruptDelivery.DeliverExternalInterrupt(c, 0x21);
        Assert.Equal(Halt, c.Rip);
        Assert.Equal(0x7FFF0UL - 40, c.Gpr(4));
        Assert.Equal(0x7FFF8UL, m.ReadU64(c.Gpr(4) + 24));
        Assert.Equal(0UL, c.Rflags & FlagBits.IF);
        Assert.NotEqual(0UL, m.ReadU64(c.Gpr(4) + 16) & FlagBits.IF);

        InterruptDelivery.DeliverExternalInterrupt(c, 0x20);
        Assert.Equal(SystemMachine.IstStack - 40, c.Gpr(4));
        Assert.Equal(Halt, m.ReadU64(c.Gpr(4)));
    }

    [Fact]
    public void NmiBlocksUntilIret()
    {
        using var m = Build();
        m.Load(Int80, 64, a => a.iretq());
        m.SetGate64(2, Int80);
        m.Load(User, 64, a => { a.nop(); a.hlt(); });
        var c = m.Cpu;
        InterruptDelivery.DeliverNmi(c);
        Assert.True(c.NmiBlocked);
        Assert.Equal(Int80, c.Rip);
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.False(c.NmiBlocked);
        Assert.Equal(User + 2, c.Rip);
    }

    [Fact]
    public void SyscallSwapgsSysretRoundTrip()
    {
        using var m = Build();
        const ulong entry = 0x24000, kernelGs = 0x5000, userGs = 0x6000;
        m.WriteU64(kernelGs, 0xABCD);
        m.Load(entry, 64, a =>
        {
            a.swapgs();
            a.mov(rdx, __qword_ptr.gs[0]);
            a.pushfq();
            a.pop(rsi);
            a.mov(r12d, cs);
            a.mov(r13d, ss);
            a.swapgs();
            a.add(rax, 1);
            a.sysretq();
        });
        var s = m.Cpu.Save();
        s.Efer |= 1;
        s.Msrs[MsrIndex.Star] = 0x23UL << 48 | 0x08UL << 32;
        s.Msrs[MsrIndex.Lstar] = entry;
        s.Msrs[MsrIndex.Sfmask] = FlagBits.IF | FlagBits.DF;
        s.Msrs[MsrIndex.KernelGsBase] = kernelGs;
        m.Cpu.Load(s);
        m.Load(User, 64, a =>
        {
            a.std();
            a.mov(eax, 42);
            a.syscall();
            a.mov(rbx, rax);
            a.@int(0x81);
        });
        m.EnterUser64(User);
        m.Cpu.Segments[(int)SegmentIndex.Gs].Base = userGs;
        m.Cpu.UpdateMode();
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(43UL, c.Gpr(3));
        Assert.Equal(0xABCDUL, c.Gpr(2));
        Assert.Equal(0UL, c.Gpr(6) & (FlagBits.IF | FlagBits.DF));
        Assert.Equal(0x08UL, c.Gpr(12));
        Assert.Equal(0x10UL, c.Gpr(13));
        Assert.Equal(User + 1 + 5 + 2, c.Gpr(1));
        Assert.Equal(FlagBits.IF | FlagBits.DF, c.Gpr(11) & (FlagBits.IF | FlagBits.DF));
        Assert.Equal(userGs, c.Segments[(int)SegmentIndex.Gs].Base);
        Assert.Equal(kernelGs, c.Architectural.Msrs[MsrIndex.KernelGsBase]);
        // The int 0x81 frame shows the state SYSRET returned to.
        Assert.Equal(0x33UL, m.ReadU64(c.Gpr(4) + 8));
        Assert.Equal(0x2BUL, m.ReadU64(c.Gpr(4) + 32));
    }

    [Fact]
    public void SyscallOutsideLongModeOrWithoutSceIsUndefined()
    {
        using var m = Build();
        m.Load(User, 64, a => a.syscall());
        m.EnterUser64(User);
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.InvalidOpcode, m.Cpu.Exception.Vector);
    }

    [Fact]
    public void SysretToNonCanonicalRcxFaultsInRing0()
    {
        using var m = Build();
        var s = m.Cpu.Save();
        s.Efer |= 1;
        m.Cpu.Load(s);
        m.Load(User, 64, a =>
        {
            a.mov(rcx, 0x0000_8000_0000_0000);
            a.sysretq();
        });
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.GeneralProtection, m.Cpu.Exception.Vector);
        Assert.Equal(0, m.Cpu.Cpl);
    }
}
