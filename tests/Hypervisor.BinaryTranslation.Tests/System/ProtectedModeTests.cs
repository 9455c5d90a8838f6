using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>Legacy protected mode: 32-bit gates with TSS stack switch, call gates, segment checks, task switches.</summary>
public class ProtectedModeTests
{
    private const ulong User = 0x1000, Int80 = 0x20000, Halt = 0x21000, GpHandler = 0x22000;

    private static SystemMachine Build()
    {
        var m = new SystemMachine();
        m.BuildProtected32();
        m.Load(Halt, 32, a => a.hlt());
        m.SetGate32(0x81, (uint)Halt, dpl: 3);
        m.Load(GpHandler, 32, a =>
        {
            a.mov(ecx, __dword_ptr[esp]);
            a.mov(edx, __dword_ptr[esp + 4]);
            a.hlt();
        });
        m.SetGate32(13, (uint)GpHandler);
        m.SetGate32(12, (uint)GpHandler);
        m.SetGate32(11, (uint)GpHandler);
        return m;
    }

    [Fact]
    public void InterruptGateFromRing3UsesTssStackAndIretdReturns()
    {
        using var m = Build();
        m.Load(Int80, 32, a =>
        {
            a.mov(ecx, __dword_ptr[esp]);
            a.mov(edx, __dword_ptr[esp + 4]);
            a.mov(esi, __dword_ptr[esp + 12]);
            a.mov(edi, __dword_ptr[esp + 16]);
            a.mov(ebp, esp);
            a.pushfd();
            a.pop(ebx);
            a.inc(eax);
            a.iretd();
        });
        m.SetGate32(0x80, (uint)Int80, dpl: 3);
        m.Load(User, 32, a =>
        {
            a.mov(eax, 7);
            a.@int(0x80);
            a.mov(__dword_ptr[SystemMachine.Data], eax);
            a.mov(__dword_ptr[SystemMachine.Data + 4], ebx);
            a.@int(0x81);
        });
        m.EnterUser32(User);
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(8U, m.ReadU32(SystemMachine.Data));
        Assert.Equal(0U, m.ReadU32(SystemMachine.Data + 4) & (uint)FlagBits.IF); // interrupt gate cleared IF
        Assert.Equal(User + 5 + 2, c.Gpr(1) & 0xFFFF_FFFF);
        Assert.Equal((ulong)SystemMachine.UserCode32, c.Gpr(2));
        Assert.Equal(SystemMachine.UserStack, c.Gpr(6));
        Assert.Equal((ulong)SystemMachine.UserData, c.Gpr(7));
        Assert.Equal(SystemMachine.KernelStack - 20, c.Gpr(5));
    }

    [Fact]
    public void CallGateCopiesParametersAndRetfReturnsToRing3()
    {
        using var m = Build();
        const ushort gate = 0x48;
        m.SetDescriptor(gate, SystemMachine.Gate(SystemMachine.KernelCode32, (uint)Int80, SystemType.CallGate32, dpl: 3, parameters: 2));
        m.Load(Int80, 32, a =>
        {
            a.mov(eax, __dword_ptr[esp + 8]);
            a.mov(ebx, __dword_ptr[esp + 12]);
            a.mov(esi, __dword_ptr[esp + 16]);
            a.mov(edi, __dword_ptr[esp + 20]);
            a.mov(ebp, cs);
            a.retf(8);
        });
        m.Load(User, 32, a =>
        {
            a.push(0x2222);
            a.push(0x1111);
            a.call(gate | 3, 0);
            a.mov(__dword_ptr[SystemMachine.Data], esp);
            a.mov(__dword_ptr[SystemMachine.Data + 4], ebp);
            a.@int(0x81);
        });
        m.EnterUser32(User);
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(0x1111UL, c.Gpr(0));
        Assert.Equal(0x2222UL, c.Gpr(3));
        Assert.Equal(SystemMachine.UserStack - 8, c.Gpr(6));
        Assert.Equal((ulong)SystemMachine.UserData, c.Gpr(7));
        Assert.Equal((ulong)SystemMachine.KernelCode32, c.Gpr(5));
        Assert.Equal((uint)SystemMachine.UserStack, m.ReadU32(SystemMachine.Data));
    }

    [Fact]
    public void DataSegmentLimitFaultsWithGp()
    {
        using var m = Build();
        const ushort small = 0x50;
        m.SetDescriptor(small, SystemMachine.Segment(0x30000, 0xFFF, 0x92, 0x4));
        m.Load(User, 32, a =>
        {
            a.mov(ax, small);
            a.mov(ds, ax);
            a.mov(eax, __dword_ptr[0xFFC]);
            a.mov(eax, __dword_ptr[0xFFD]);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0UL, m.Cpu.Gpr(1));
        Assert.Equal(User + 4 + 3 + 5, m.Cpu.Gpr(2)); // mov ds, ax carries 66h in 32-bit code
    }

    [Fact]
    public void StackLimitFaultsWithSs()
    {
        using var m = Build();
        const ushort stack = 0x50;
        m.SetDescriptor(stack, SystemMachine.Segment(0, 0x7FFF, 0x92, 0x4));
        var s = m.Cpu.Save();
        s.Ss = new Descriptor(SystemMachine.Segment(0, 0x7FFF, 0x93, 0x4)).ToSegment(stack);
        s.Rsp = 0x8004;
        m.Cpu.Load(s);
        m.Load(User, 32, a =>
        {
            a.push(eax); // writes 0x8000..0x8003: beyond the limit
        });
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.StackFault, m.Cpu.Exception.Vector);
        Assert.Equal(0U, m.Cpu.Exception.ErrorCode);
        Assert.Equal(0x8004UL, m.Cpu.Gpr(4));
    }

    [Fact]
    public void WriteToReadOnlyDataSegmentFaults()
    {
        using var m = Build();
        const ushort readOnly = 0x50;
        m.SetDescriptor(readOnly, SystemMachine.Segment(0, 0xFFFFF, 0x90, 0xC));
        m.Load(User, 32, a =>
        {
            a.mov(ax, readOnly);
            a.mov(es, ax);
            a.mov(eax, __dword_ptr.es[SystemMachine.Data]);
            a.mov(__dword_ptr.es[SystemMachine.Data], eax);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(User + 4 + 3 + 6, m.Cpu.Gpr(2));
    }

    [Fact]
    public void CodeFetchBeyondCsLimitFaults()
    {
        using var m = Build();
        var s = m.Cpu.Save();
        s.Cs = new Descriptor(SystemMachine.Segment(0, 0x1003, 0x9B, 0x4)).ToSegment(SystemMachine.KernelCode32);
        m.Cpu.Load(s);
        m.Load(User, 32, a => { a.nop(); a.nop(); a.nop(); a.nop(); a.nop(); });
        Assert.Equal(RunExit.Exception, m.Machine.Run());
        Assert.Equal(Vectors.GeneralProtection, m.Cpu.Exception.Vector);
        Assert.Equal(User + 4, m.Cpu.Rip);
    }

    [Fact]
    public void SegmentLoadChecksRaiseSelectorErrorCodes()
    {
        using var m = Build();
        const ushort notPresent = 0x50, ring0Data = SystemMachine.KernelData;
        m.SetDescriptor(notPresent, SystemMachine.Data32(3) & ~(1UL << 47));
        // Runs the ring-3 code and expects it to fault with vector and error code, as the SDM lists for MOV Sreg.
        void AssertFaults(Action<Assembler> code, byte vector, uint errorCode)
        {
            m.Load(User, 32, code);
            m.EnterUser32(User);
            Assert.Equal(RunExit.Exception, m.Machine.Run());
            Assert.Equal(vector, m.Cpu.Exception.Vector);
            Assert.Equal(errorCode, m.Cpu.Exception.ErrorCode);
        }

        AssertFaults(a =>
        {
            a.mov(ax, notPresent | 3);
            a.mov(ds, ax);
        }, Vectors.SegmentNotPresent, notPresent);
        AssertFaults(a =>
        {
            a.mov(ax, ring0Data | 3);
            a.mov(ds, ax);
        }, Vectors.GeneralProtection, ring0Data);
        AssertFaults(a =>
        {
            a.xor(eax, eax);
            a.mov(ss, ax);
        }, Vectors.GeneralProtection, 0);

        m.Load(User, 32, a =>
        {
            a.mov(ax, SystemMachine.UserData);
            a.mov(ss, ax);
        });
        m.EnterUser32(User);
        m.Cpu.InterruptShadow = false;
        m.Machine.Interpreter.Run(2);
        Assert.True(m.Cpu.InterruptShadow);
        Assert.Equal(User + 4 + 3, m.Cpu.Rip);
    }

    [Fact]
    public void LarLslVerrVerwArplSeeDescriptorsAtCpl3()
    {
        using var m = Build();
        m.Load(User, 32, a =>
        {
            a.mov(ecx, SystemMachine.UserCode32);
            a.lar(eax, ecx);
            a.lsl(ebx, ecx);
            a.mov(ecx, SystemMachine.KernelData);
            a.lar(edx, ecx);      // DPL 0 < CPL 3: ZF = 0, EDX unchanged
            a.setz(__byte_ptr[SystemMachine.Data]);
            a.mov(ecx, SystemMachine.UserData);
            a.verw(cx);
            a.setz(__byte_ptr[SystemMachine.Data + 1]);
            a.mov(ecx, SystemMachine.UserCode32);
            a.verw(cx);
            a.setz(__byte_ptr[SystemMachine.Data + 2]);
            a.verr(cx);
            a.setz(__byte_ptr[SystemMachine.Data + 3]);
            a.mov(si, 0x10);
            a.mov(di, 0x3);
            a.arpl(si, di);
            a.@int(0x81);
        });
        m.EnterUser32(User);
        m.Cpu.Gpr(2) = 0xDEAD;
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(0x00C0_FA00UL, c.Gpr(0)); // limit 19:16 masked off (00FxFF00h, as QEMU)
        Assert.Equal(0xFFFF_FFFFUL, c.Gpr(3));
        Assert.Equal(0xDEADUL, c.Gpr(2));
        Assert.Equal(0x13UL, c.Gpr(6) & 0xFFFF);
        Assert.Equal(0x0100_0100U, m.ReadU32(SystemMachine.Data)); // LAR ZF=0, VERW data 1, VERW code 0, VERR code 1
    }

    [Fact]
    public void JmpToTssSwitchesTaskAndSavesTheOldOne()
    {
        using var m = Build();
        const ushort tss2 = 0x58;
        const ulong task2 = 0x25000;
        m.SetDescriptor(tss2, SystemMachine.Segment((uint)SystemMachine.Tss2, 0x67, 0x89, 0));
        m.WriteU32(SystemMachine.Tss2 + 32, (uint)task2);           // EIP
        m.WriteU32(SystemMachine.Tss2 + 36, 0x2);                   // EFLAGS
        m.WriteU32(SystemMachine.Tss2 + 40, 0x1234);                // EAX
        m.WriteU32(SystemMachine.Tss2 + 56, (uint)SystemMachine.KernelStack - 0x800); // ESP
        m.WriteU16(SystemMachine.Tss2 + 72, SystemMachine.KernelData); // ES
        m.WriteU16(SystemMachine.Tss2 + 76, SystemMachine.KernelCode32);
        m.WriteU16(SystemMachine.Tss2 + 80, SystemMachine.KernelData);
        m.WriteU16(SystemMachine.Tss2 + 84, SystemMachine.KernelData);
        m.Load(task2, 32, a => a.hlt());
        m.Load(User, 32, a =>
        {
            a.mov(eax, 0x5678);
            a.jmp(tss2, 0);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(0x1234UL, c.Gpr(0));
        Assert.Equal(task2 + 1, c.Rip);
        Assert.Equal(tss2, c.Architectural.Tr.Selector);
        Assert.Equal(0x5678U, m.ReadU32(SystemMachine.Tss + 40));
        Assert.Equal((uint)(User + 5 + 7), m.ReadU32(SystemMachine.Tss + 32));
        Assert.Equal(0x89UL, m.ReadU64(SystemMachine.Gdt + SystemMachine.TssSelector) >> 40 & 0xFF); // old: available
        Assert.Equal(0x8BUL, m.ReadU64(SystemMachine.Gdt + tss2) >> 40 & 0xFF);                     // new: busy
        Assert.NotEqual(0UL, c.Architectural.Cr0 & 8);                                               // CR0.TS
    }
    [Fact]
    public void SysenterAndSysexitUseTheFixedFlatSegments()
    {
        using var m = Build();
        const ulong entry = 0x26000;
        var s = m.Cpu.Save();
        s.Msrs[MsrIndex.SysenterCs] = SystemMachine.KernelCode32;
        s.Msrs[MsrIndex.SysenterEsp] = SystemMachine.KernelStack;
        s.Msrs[MsrIndex.SysenterEip] = entry;
        m.Cpu.Load(s);
        m.Load(entry, 32, a =>
        {
            a.mov(edi, cs);
            a.mov(esi, ss);
            a.mov(ebp, esp);
            a.mov(edx, (uint)User + 0x20);
            a.mov(ecx, (uint)SystemMachine.UserStack - 0x10);
            a.sysexit();
        });
        m.Load(User, 32, a => a.sysenter());
        m.Load(User + 0x20, 32, a =>
        {
            a.mov(eax, cs);
            a.mov(ebx, ss);
            a.@int(0x81);
        });
        m.EnterUser32(User);
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal((ulong)SystemMachine.KernelCode32, c.Gpr(7));
        Assert.Equal((ulong)SystemMachine.KernelCode32 + 8, c.Gpr(6));
        Assert.Equal(SystemMachine.KernelStack, c.Gpr(5));
        Assert.Equal((ulong)SystemMachine.KernelCode32 + 16 | 3, c.Gpr(0));
        Assert.Equal((ulong)SystemMachine.KernelCode32 + 24 | 3, c.Gpr(3));
    }
}
