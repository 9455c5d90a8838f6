using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>
/// 16-bit interrupt and call gates, conforming code segments, the segment nulling of returns to an outer ring and
/// LAR/LSL/VERR/VERW over every descriptor type (Intel SDM Vol. 2A CALL, INT n, IRET, LAR, LSL; Vol. 2B VERR/VERW).
/// </summary>
public class LegacyGateTests
{
    private const ulong User = TestMachine.CodeBase, Handler16 = 0x5000;
    private const ushort Code16 = 0x20, Gate16 = 0x48, Conforming = 0x60, Probe = 0x68;

    private static SystemMachine Build()
    {
        var m = new SystemMachine();
        m.BuildProtected32();
        m.SetDescriptor(Code16, SystemMachine.Segment(0, 0xFFFF, 0x9A, 0));
        return m;
    }

    private static ushort Word(SystemMachine m, ulong at) => (ushort)m.ReadU32(at);

    [Fact]
    public void SixteenBitInterruptGateFromRing3PushesAWordFrameOnTheTssStack()
    {
        using var m = Build();
        m.SetGate32(0x82, (uint)Handler16, type: SystemType.InterruptGate16, dpl: 3, selector: Code16);
        m.Load(Handler16, 16, a => a.hlt());
        m.Load(User, 32, a => a.@int(0x82));
        m.EnterUser32(User);
        Assert.Equal(RunExit.Halted, m.Machine.Run());
        var c = m.Cpu;
        ulong frame = SystemMachine.KernelStack - 10;
        Assert.Equal(frame, c.Gpr(4));
        Assert.Equal((ushort)(User + 2), Word(m, frame));                      // IP
        Assert.Equal(SystemMachine.UserCode32, Word(m, frame + 2));            // CS
        Assert.Equal(0x202, Word(m, frame + 4));                               // FLAGS
        Assert.Equal((ushort)(SystemMachine.UserStack & 0xFFFF), Word(m, frame + 6));     // SP
        Assert.Equal(SystemMachine.UserData, Word(m, frame + 8));              // SS
        Assert.Equal(0, c.Cpl);
        Assert.Equal(16, c.CodeBits);
    }

    [Fact]
    public void SixteenBitCallGateCopiesWordParametersToTheInnerStack()
    {
        using var m = Build();
        m.SetDescriptor(Gate16, SystemMachine.Gate(Code16, (uint)Handler16, SystemType.CallGate16, dpl: 3, parameters: 2));
        m.Load(Handler16, 16, a => a.hlt());
        m.Load(User, 32, a =>
        {
            a.db(0x66, 0x68, 0x22, 0x22); // push word 2222h
            a.db(0x66, 0x68, 0x11, 0x11); // push word 1111h
            a.call(Gate16 | 3, 0);
        });
        m.EnterUser32(User);
        Assert.Equal(RunExit.Halted, m.Machine.Run());
        ulong frame = SystemMachine.KernelStack - 12;
        Assert.Equal(frame, m.Cpu.Gpr(4));
        Assert.Equal((ushort)(User + 8 + 7), Word(m, frame));                      // IP
        Assert.Equal(SystemMachine.UserCode32, Word(m, frame + 2));                // CS
        Assert.Equal(0x1111, Word(m, frame + 4));                                  // parameters, same order
        Assert.Equal(0x2222, Word(m, frame + 6));
        Assert.Equal((ushort)((SystemMachine.UserStack - 4) & 0xFFFF), Word(m, frame + 8));   // SP
        Assert.Equal(SystemMachine.UserData, Word(m, frame + 10));                 // SS
    }

    [Fact]
    public void FarJumpToAConformingSegmentKeepsCplAndTheRplOfCs()
    {
        using var m = Build();
        m.SetDescriptor(Conforming, SystemMachine.Segment(0, 0xFFFFF, 0x9E, 0xC)); // DPL 0, conforming, readable
        const ulong target = 0x24000;
        m.Load(target, 32, a =>
        {
            a.mov(eax, cs);
            a.hlt(); // CPL 3: #GP(0)
        });
        m.Load(User, 32, a => a.jmp(Conforming, (uint)target));
        m.EnterUser32(User);
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.GeneralProtection, m.Cpu.Exception.Vector);
        Assert.Equal((ulong)(Conforming | 3), m.Cpu.Gpr(0));
        Assert.Equal(3, m.Cpu.Cpl);

        // A conforming segment with DPL 3 > CPL 0 cannot be entered.
        m.BuildProtected32();
        m.SetDescriptor(Conforming, SystemMachine.Segment(0, 0xFFFFF, 0xFE, 0xC));
        m.Load(User, 32, a => a.call(Conforming, (uint)target));
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.GeneralProtection, m.Cpu.Exception.Vector);
        Assert.Equal((uint)Conforming, m.Cpu.Exception.ErrorCode);
    }

    [Fact]
    public void IretToRing3NullsDataSegmentsItsCplMayNotUse()
    {
        using var m = Build();
        m.SetDescriptor(Conforming, SystemMachine.Segment(0, 0xFFFFF, 0x9E, 0xC));
        m.Load(User, 32, a =>
        {
            a.mov(ax, Conforming);
            a.mov(es, ax);                 // conforming readable code, DPL 0: stays
            a.mov(ax, SystemMachine.UserData);
            a.mov(fs, ax);                 // DPL 3 data: stays
            a.push((int)SystemMachine.UserData);
            a.push((int)SystemMachine.UserStack);
            a.push(0x2);
            a.push((int)SystemMachine.UserCode32);
            a.push((int)User + 0x100);
            a.iretd();                     // DS, GS (DPL 0 data) are nulled
        });
        m.Load(User + 0x100, 32, a => a.hlt());
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        var c = m.Cpu;
        Assert.Equal(3, c.Cpl);
        Assert.True(c.Segments[SegmentLoader.Ds].Unusable);
        Assert.Equal(0, c.Segments[SegmentLoader.Ds].Selector);
        Assert.True(c.Segments[SegmentLoader.Gs].Unusable);
        Assert.False(c.Segments[SegmentLoader.Es].Unusable);
        Assert.Equal(Conforming, c.Segments[SegmentLoader.Es].Selector);
        Assert.False(c.Segments[SegmentLoader.Fs].Unusable);
    }

    /// <summary>Which system types LAR and LSL accept outside IA-32e mode (Intel SDM Vol. 2A, LAR and LSL tables).</summary>
    [Theory]
    [InlineData(0, false, false)]
    [InlineData(SystemType.Tss16Available, true, true)]
    [InlineData(SystemType.Ldt, true, true)]
    [InlineData(SystemType.Tss16Busy, true, true)]
    [InlineData(SystemType.CallGate16, true, false)]
    [InlineData(SystemType.TaskGate, true, false)]
    [InlineData(SystemType.InterruptGate16, false, false)]
    [InlineData(SystemType.TrapGate16, false, false)]
    [InlineData(8, false, false)]
    [InlineData(SystemType.Tss32Available, true, true)]
    [InlineData(10, false, false)]
    [InlineData(SystemType.Tss32Busy, true, true)]
    [InlineData(SystemType.CallGate32, true, false)]
    [InlineData(13, false, false)]
    [InlineData(SystemType.InterruptGate32, false, false)]
    [InlineData(SystemType.TrapGate32, false, false)]
    public void LarLslVerrVerwOnSystemDescriptors(byte type, bool lar, bool lsl)
    {
        using var m = Build();
        m.SetDescriptor(Probe, SystemMachine.Segment(0x1234, 0x567, (byte)(0x80 | type), 0));
        var flags = RunProbe(m, Probe);
        Assert.Equal(lar, flags[0] == 1);
        Assert.Equal(lsl, flags[1] == 1);
        Assert.Equal(0, flags[2]); // VERR: never a system descriptor
        Assert.Equal(0, flags[3]); // VERW
        if (lar) Assert.Equal((ulong)(0x80 | type) << 8, m.Cpu.Gpr(0));
        if (lsl) Assert.Equal(0x567UL, m.Cpu.Gpr(3));
    }

    /// <summary>In IA-32e mode only the 64-bit TSS, the LDT (LSL only, as Intel lists it) and the 64-bit call gate (LAR only) remain.</summary>
    [Theory]
    [InlineData(SystemType.Tss16Available, false, false)]
    [InlineData(SystemType.Ldt, false, true)]
    [InlineData(SystemType.Tss16Busy, false, false)]
    [InlineData(SystemType.CallGate16, false, false)]
    [InlineData(SystemType.TaskGate, false, false)]
    [InlineData(SystemType.Tss32Available, true, true)]
    [InlineData(SystemType.Tss32Busy, true, true)]
    [InlineData(SystemType.CallGate32, true, false)]
    [InlineData(SystemType.InterruptGate32, false, false)]
    public void LarLslOnSystemDescriptorsInLongMode(byte type, bool lar, bool lsl)
    {
        using var m = new SystemMachine();
        m.BuildLongMode();
        m.SetDescriptor(SystemMachine.Spare, SystemMachine.Segment(0x1234, 0x567, (byte)(0x80 | type), 0));
        m.WriteU64(SystemMachine.Gdt + SystemMachine.Spare + 8, 0);
        m.Load(User, 64, a =>
        {
            a.mov(ecx, SystemMachine.Spare);
            a.lar(eax, ecx);
            a.setz(__byte_ptr[SystemMachine.Data]);
            a.lsl(ebx, ecx);
            a.setz(__byte_ptr[SystemMachine.Data + 1]);
            a.hlt();
        });
        Assert.Equal(RunExit.Halted, m.Machine.Run());
        var flags = new byte[2];
        m.Machine.Memory.Read(SystemMachine.Data, flags);
        Assert.Equal(lar, flags[0] == 1);
        Assert.Equal(lsl, flags[1] == 1);
    }

    /// <summary>Code and data segments: VERR needs readable, VERW writable data; conforming code ignores DPL.</summary>
    [Theory]
    [InlineData(0x90, 3, 0, 0, 0, 0)]  // read-only data, DPL 0, RPL 3: DPL < RPL, invisible
    [InlineData(0xF0, 3, 1, 1, 1, 0)]  // read-only data, DPL 3
    [InlineData(0xF2, 3, 1, 1, 1, 1)]  // writable data, DPL 3
    [InlineData(0xF6, 3, 1, 1, 1, 1)]  // expand-down writable data
    [InlineData(0xF8, 3, 1, 1, 0, 0)]  // execute-only code
    [InlineData(0xFA, 3, 1, 1, 1, 0)]  // readable code
    [InlineData(0x9E, 3, 1, 1, 1, 0)]  // conforming readable code, DPL 0: visible at RPL 3
    [InlineData(0x9C, 3, 1, 1, 0, 0)]  // conforming execute-only code
    [InlineData(0x9A, 0, 1, 1, 1, 0)]  // readable code DPL 0 at RPL 0
    public void LarLslVerrVerwOnCodeAndDataSegments(byte access, int rpl, int lar, int lsl, int verr, int verw)
    {
        using var m = Build();
        m.SetDescriptor(Probe, SystemMachine.Segment(0, 0xFFFF, access, 0));
        var flags = RunProbe(m, (ushort)(Probe | rpl));
        Assert.Equal(lar, flags[0]);
        Assert.Equal(lsl, flags[1]);
        Assert.Equal(verr, flags[2]);
        Assert.Equal(verw, flags[3]);
    }

    /// <summary>Runs LAR, LSL, VERR, VERW on the selector at CPL 0 and returns their ZF values.</summary>
    private static byte[] RunProbe(SystemMachine m, ushort selector)
    {
        m.Load(User, 32, a =>
        {
            a.mov(ecx, selector);
            a.xor(eax, eax);
            a.xor(ebx, ebx);
            a.lar(eax, ecx);
            a.setz(__byte_ptr[SystemMachine.Data]);
            a.lsl(ebx, ecx);
            a.setz(__byte_ptr[SystemMachine.Data + 1]);
            a.verr(cx);
            a.setz(__byte_ptr[SystemMachine.Data + 2]);
            a.verw(cx);
            a.setz(__byte_ptr[SystemMachine.Data + 3]);
            a.hlt();
        });
        Assert.Equal(RunExit.Halted, m.Machine.Run());
        var flags = new byte[4];
        m.Machine.Memory.Read(SystemMachine.Data, flags);
        return flags;
    }
}
