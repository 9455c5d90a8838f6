using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using Hypervisor.Platform.Cpu;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>
/// Limit and rights checks of string operands and of the frames of far CALL/RET, IRET and interrupt delivery
/// (Intel SDM Vol. 2A/2B pseudocode of MOVS..OUTS, CALL, RET, IRET, INT n; Vol. 3, 5.3, 6.15).
/// </summary>
public class SegmentLimitTests
{
    private const ulong User = TestMachine.CodeBase, Handler = 0x20000;
    private const ushort Small = 0x50, Stack = 0x58;

    private static SystemMachine Build()
    {
        var m = new SystemMachine();
        m.BuildProtected32();
        return m;
    }

    private static void SetSegment(SystemMachine m, int index, ushort selector, ulong descriptor)
    {
        m.SetDescriptor(selector, descriptor);
        var s = m.Cpu.Save();
        var reg = new Descriptor(descriptor | 1UL << 40).ToSegment(selector);
        switch (index)
        {
            case SegmentLoader.Es: s.Es = reg; break;
            case SegmentLoader.Ds: s.Ds = reg; break;
            case SegmentLoader.Ss: s.Ss = reg; break;
        }
        m.Cpu.Load(s);
    }

    private static void AssertFault(SystemMachine m, byte vector, uint error, ulong rip)
    {
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(vector, m.Cpu.Exception.Vector);
        Assert.Equal(error, m.Cpu.Exception.ErrorCode);
        Assert.Equal(rip, m.Cpu.Rip);
    }

    [Fact]
    public void RepStosStopsAtTheEsLimitWithTheEarlierIterationsDone()
    {
        using var m = Build();
        SetSegment(m, SegmentLoader.Es, Small, SystemMachine.Segment((uint)SystemMachine.Data, 0xFFF, 0x92, 0x4));
        m.Load(User, 32, a =>
        {
            a.mov(edi, 0xFF0);
            a.mov(ecx, 0x20);
            a.mov(al, 0x5A);
            a.db(0xF3, 0xAA); // rep stosb
        });
        AssertFault(m, Vectors.GeneralProtection, 0, User + 5 + 5 + 2);
        Assert.Equal(0x1000UL, m.Cpu.Gpr(7));
        Assert.Equal(0x10UL, m.Cpu.Gpr(1));
        Assert.Equal(0x5A5A_5A5AU, m.ReadU32(SystemMachine.Data + 0xFFC));
        Assert.Equal(0U, m.ReadU32(SystemMachine.Data + 0x1000));
    }

    [Fact]
    public void MovsChecksBothOperandsAndEsCannotBeOverridden()
    {
        using var m = Build();
        // DS is flat; ES is read-only: the store through ES faults even with an FS override of the source.
        SetSegment(m, SegmentLoader.Es, Small, SystemMachine.Segment(0, 0xFFFFF, 0x90, 0xC));
        m.Load(User, 32, a =>
        {
            a.mov(esi, (uint)SystemMachine.Data);
            a.mov(edi, (uint)SystemMachine.Data + 0x100);
            a.db(0x64, 0xA5); // movsd with an FS override of the source
        });
        AssertFault(m, Vectors.GeneralProtection, 0, User + 10);
        Assert.Equal(SystemMachine.Data, m.Cpu.Gpr(6));
    }

    [Fact]
    public void StackSegmentOverrideOfTheSourceRaisesSs()
    {
        using var m = Build();
        SetSegment(m, SegmentLoader.Ss, Stack, SystemMachine.Segment(0, 0x9FFFF, 0x92, 0x4));
        m.Load(User, 32, a =>
        {
            a.mov(esi, 0x9FFFE);
            a.db(0x36, 0x66, 0xAD); // ss lodsw: 9FFFE..9FFFF, inside
            a.db(0x36, 0x66, 0xAD); // A0000..A0001: beyond the limit
        });
        AssertFault(m, Vectors.StackFault, 0, User + 5 + 3);
        Assert.Equal(0xA0000UL, m.Cpu.Gpr(6));
    }

    [Fact]
    public void ExpandDownDataSegmentAcceptsOnlyOffsetsAboveTheLimit()
    {
        using var m = Build();
        // Expand-down, B = 1: valid offsets 0x1000..0xFFFFFFFF.
        SetSegment(m, SegmentLoader.Ds, Small, SystemMachine.Segment(0, 0xFFF, 0x96, 0x4));
        m.Load(User, 32, a =>
        {
            a.mov(esi, 0x30000);
            a.lodsd();
            a.mov(esi, 0xFFE);
            a.lodsd();           // FFE..1001: the first bytes are at or below the limit
        });
        AssertFault(m, Vectors.GeneralProtection, 0, User + 5 + 1 + 5);
    }

    [Fact]
    public void SixteenBitStringOffsetsMayNotCrossTheSegmentEnd()
    {
        using var m = Build();
        m.Load(User, 32, a =>
        {
            a.mov(edi, 0xFFFF);
            a.mov(ecx, 2);
            a.db(0x67, 0xF3, 0xAB); // rep stosd with 16-bit addressing: DI = FFFF, ES limit 4 GiB
            a.hlt();
        });
        // ES is flat, so offsets FFFF..10002 are inside; no check runs and DI wraps.
        Assert.Equal(RunExit.Halted, m.Machine.Run());
        Assert.Equal(0x7UL, m.Cpu.Gpr(7));

        SetSegment(m, SegmentLoader.Es, Small, SystemMachine.Segment(0, 0xFFFF, 0x92, 0x0));
        var s = m.Cpu.Save();
        s.Rip = User;
        m.Cpu.Load(s);
        AssertFault(m, Vectors.GeneralProtection, 0, User + 10);
        Assert.Equal(0xFFFFUL, m.Cpu.Gpr(7));
    }

    [Fact]
    public void RepInsChecksTheDestinationBeforeReadingThePort()
    {
        var io = new RecordingIo();
        using var m = new SystemMachine(io);
        m.BuildProtected32();
        SetSegment(m, SegmentLoader.Es, Small, SystemMachine.Segment((uint)SystemMachine.Data, 0xFFF, 0x92, 0x4));
        m.Load(User, 32, a =>
        {
            a.mov(edi, 0xFFC);
            a.mov(ecx, 4);
            a.mov(edx, 0x80);
            a.db(0xF3, 0x66, 0x6D); // rep insw: FFC, FFE fit, 1000 does not
        });
        AssertFault(m, Vectors.GeneralProtection, 0, User + 15);
        Assert.Equal(2, io.Reads.Count);
        Assert.Equal(0x1000UL, m.Cpu.Gpr(7));
        Assert.Equal(2UL, m.Cpu.Gpr(1));
    }

    [Fact]
    public void FarCallWhoseReturnAddressDoesNotFitRaisesSsZero()
    {
        using var m = Build();
        SetSegment(m, SegmentLoader.Ss, Stack, SystemMachine.Segment(0, 0x7FFF, 0x92, 0x4));
        var s = m.Cpu.Save();
        s.Rsp = 0x8006; // 8 bytes needed, 6 left above the limit... the push would write 7FFE..8005
        m.Cpu.Load(s);
        m.Load(User, 32, a => a.call(SystemMachine.KernelCode32, (uint)Handler));
        AssertFault(m, Vectors.StackFault, 0, User);
        Assert.Equal(0x8006UL, m.Cpu.Gpr(4));
    }

    [Fact]
    public void ExpandDownStackFramesAreCheckedAgainstTheLowerBound()
    {
        using var m = Build();
        // Expand-down ring-0 stack, B = 1, limit 0x8FFFF: valid offsets 0x90000..0xFFFFFFFF.
        SetSegment(m, SegmentLoader.Ss, Stack, SystemMachine.Segment(0, 0x8FFFF, 0x96, 0x4));
        var s = m.Cpu.Save();
        s.Rsp = 0x90008;
        m.Cpu.Load(s);
        m.Load(Handler, 32, a => a.retf());
        m.SetGate32(3, (uint)Handler, dpl: 3);
        m.Load(User, 32, a =>
        {
            a.call(SystemMachine.KernelCode32, (uint)Handler); // 90000..90007: fits
            a.@int(3);                                          // 12 bytes below 90008: does not
        });
        AssertFault(m, Vectors.StackFault, 0, User + 7);
        Assert.Equal(0x90008UL, m.Cpu.Gpr(4));
    }

    [Fact]
    public void IretFrameBeyondTheStackLimitRaisesSsZero()
    {
        using var m = Build();
        SetSegment(m, SegmentLoader.Ss, Stack, SystemMachine.Segment(0, 0x8FFFF, 0x92, 0x4));
        var s = m.Cpu.Save();
        s.Rsp = 0x8FFF8; // a 12-byte frame would end at 90003
        m.Cpu.Load(s);
        m.Load(User, 32, a => a.iretd());
        AssertFault(m, Vectors.StackFault, 0, User);
    }

    [Fact]
    public void RetfToOuterPrivilegeChecksTheWholeFrameWithTheReleasedBytes()
    {
        using var m = Build();
        SetSegment(m, SegmentLoader.Ss, Stack, SystemMachine.Segment(0, 0x8FFFF, 0x92, 0x4));
        var s = m.Cpu.Save();
        s.Rsp = 0x8FFE0;
        m.Cpu.Load(s);
        // EIP, CS (ring 3), 16 released bytes, ESP, SS: 32 bytes end at 8FFFF, 36 would not fit.
        m.WriteU32(0x8FFE0, (uint)Handler);
        m.WriteU32(0x8FFE4, SystemMachine.UserCode32);
        m.WriteU32(0x8FFF8, (uint)SystemMachine.UserStack);
        m.WriteU32(0x8FFFC, SystemMachine.UserData);
        m.Load(Handler, 32, a => a.hlt());
        m.Load(User, 32, a => a.retf(20));
        AssertFault(m, Vectors.StackFault, 0, User);
        m.Load(User, 32, a => a.retf(16));
        Assert.Equal(RunExit.Exception, m.Machine.Run()); // ring 3 reaches the HLT at Handler: #GP(0)
        Assert.Equal(Vectors.GeneralProtection, m.Cpu.Exception.Vector);
        Assert.Equal(3, m.Cpu.Cpl);
        Assert.Equal(Handler, m.Cpu.Rip);
    }

    [Fact]
    public void InterruptFrameThatDoesNotFitTheTssStackRaisesSsWithTheNewSelector()
    {
        using var m = Build();
        // Ring-0 stack from the TSS: limit 0x8FFFF, ESP0 = 0x90004 leaves room for nothing of a 20-byte frame.
        const ushort kernelStack = 0x68;
        m.SetDescriptor(kernelStack, SystemMachine.Segment(0, 0x8FFFF, 0x92, 0x4));
        m.WriteU32(SystemMachine.Tss + 4, 0x90004);
        m.WriteU32(SystemMachine.Tss + 8, kernelStack);
        m.SetGate32(0x80, (uint)Handler, dpl: 3);
        m.Load(Handler, 32, a => a.hlt());
        m.Load(User, 32, a => a.@int(0x80));
        m.EnterUser32(User);
        AssertFault(m, Vectors.StackFault, kernelStack, User);
        Assert.Equal(3, m.Cpu.Cpl);
    }

    [Fact]
    public void StackFaultWhileDeliveringAnExceptionBecomesDoubleFault()
    {
        using var m = Build();
        const ushort kernelStack = 0x68;
        m.SetDescriptor(kernelStack, SystemMachine.Segment(0, 0x8FFFF, 0x92, 0x4));
        m.WriteU32(SystemMachine.Tss + 4, 0x90004);
        m.WriteU32(SystemMachine.Tss + 8, kernelStack);
        m.SetGate32(13, (uint)Handler);
        m.Load(Handler, 32, a => a.hlt());
        m.Load(User, 32, a => a.cli()); // IOPL 0 at CPL 3: #GP(0), whose frame does not fit the ring-0 stack
        m.EnterUser32(User);
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        InterruptDelivery.DeliverException(m.Cpu);
        // #GP + #SS(68h) is contributory twice: #DF, whose gate is not present: #NP during #DF is a triple fault.
        Assert.True(m.Cpu.ShutdownPending);
    }
}
