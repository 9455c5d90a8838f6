using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Instructions;

/// <summary>
/// What the host-CPU harness cannot run natively: faults (#DE, #UD, #GP), the BCD instructions (32-bit mode
/// only, and this host's kernel offers no 32-bit code segment), 16-bit code, CPUID and RDTSC.
/// Expected values are the worked examples of the Intel SDM.
/// </summary>
public class FaultAndModeTests
{
    [Fact]
    public void DivideByZeroFaultsAtTheInstructionWithRegistersUnchanged()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 100);
            a.xor(ecx, ecx);
            a.mov(edx, 7);
            a.div(ecx);
        });
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.DivideError, m.Cpu.Exception.Vector);
        Assert.Equal(TestMachine.CodeBase + 5 + 2 + 5, m.Cpu.Rip);
        Assert.Equal(100UL, m.Cpu.Gpr(0));
        Assert.Equal(7UL, m.Cpu.Gpr(2));
        Assert.Equal(3, m.Cpu.InstructionsRetired);
    }

    [Fact]
    public void SignedDivideOverflowFaults()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, int.MinValue);
            a.cdq();
            a.mov(ecx, -1);
            a.idiv(ecx);
        });
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.DivideError, m.Cpu.Exception.Vector);
    }

    [Fact]
    public void PopfAtCpl3SetsNtButNotIoplOrIf()
    {
        // NT is writable by POPF at any CPL; IOPL only at CPL 0 and IF only at CPL <= IOPL (SDM Vol. 2B POPF).
        // The host harness leaves NT out because the host kernel may clear it under a preempted native run.
        using var m = new TestMachine(cpl: 3);
        m.Load(a =>
        {
            a.push(0x4000 | 0x3000 | 0x200 | 0x2);
            a.popfq();
            a.ud2();
        });
        ulong before = m.Cpu.GetRflags();
        Assert.Equal(RunExit.Exception, m.Run());
        ulong after = m.Cpu.GetRflags();
        Assert.Equal(FlagBits.NT, after & FlagBits.NT);
        Assert.Equal(before & (FlagBits.IOPL | FlagBits.IF), after & (FlagBits.IOPL | FlagBits.IF));
    }

    [Fact]
    public void Ud2RaisesInvalidOpcode()
    {
        using var m = new TestMachine();
        m.Load(a => a.ud2());
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.InvalidOpcode, m.Cpu.Exception.Vector);
        Assert.Equal(TestMachine.CodeBase, m.Cpu.Rip);
    }

    [Fact]
    public void BcdOpcodesAreInvalidIn64BitMode()
    {
        using var m = new TestMachine();
        m.Memory.Load(TestMachine.CodeBase, [0x37]);
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.InvalidOpcode, m.Cpu.Exception.Vector);
    }

    [Fact]
    public void HltAtCpl3RaisesGeneralProtection()
    {
        using var m = new TestMachine(cpl: 3);
        m.Load(_ => { });
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.GeneralProtection, m.Cpu.Exception.Vector);
    }

    [Fact]
    public void NonCanonicalAccessRaisesGeneralProtection()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rbx, 0x8000_0000_0000_0000);
            a.mov(rax, __qword_ptr[rbx]);
        });
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.GeneralProtection, m.Cpu.Exception.Vector);
    }

    private static (ulong Ax, ulong Flags) RunBcd32(Action<Iced.Intel.Assembler> build)
    {
        using var m = new TestMachine(bits: 32);
        m.Load(build, bits: 32);
        Assert.Equal(RunExit.Halted, m.Run());
        return (m.Cpu.Gpr(0) & 0xFFFF, m.Cpu.GetRflags());
    }

    [Fact]
    public void DaaAfterPackedBcdAddition()
    {
        // SDM DAA example: 79 + 35 = AE, DAA -> 14 with CF = 1.
        var (ax, f) = RunBcd32(a =>
        {
            a.mov(al, 0x79);
            a.add(al, 0x35);
            a.daa();
        });
        Assert.Equal(0x14UL, ax & 0xFF);
        Assert.NotEqual(0UL, f & FlagBits.CF);
        Assert.NotEqual(0UL, f & FlagBits.AF);
    }

    [Fact]
    public void DasAfterPackedBcdSubtraction()
    {
        // SDM DAS example: 35 - 47 = EE (CF = 1), DAS -> 88 with CF = 1.
        var (ax, f) = RunBcd32(a =>
        {
            a.mov(al, 0x35);
            a.sub(al, 0x47);
            a.das();
        });
        Assert.Equal(0x88UL, ax & 0xFF);
        Assert.NotEqual(0UL, f & FlagBits.CF);
    }

    [Fact]
    public void AaaCarriesIntoAh()
    {
        // 8 + 7 = 0F: AAA -> AH + 1, AL = 5, CF = AF = 1.
        var (ax, f) = RunBcd32(a =>
        {
            a.xor(eax, eax);
            a.mov(al, 8);
            a.add(al, 7);
            a.aaa();
        });
        Assert.Equal(0x0105UL, ax);
        Assert.Equal(FlagBits.CF | FlagBits.AF, f & (FlagBits.CF | FlagBits.AF));
    }

    [Fact]
    public void AasBorrowsFromAh()
    {
        // 2 - 5 = FD with AF: AAS -> AH - 1, AL = 7.
        var (ax, f) = RunBcd32(a =>
        {
            a.mov(eax, 0x0102);
            a.sub(al, 5);
            a.aas();
        });
        Assert.Equal(0x0007UL, ax);
        Assert.NotEqual(0UL, f & FlagBits.CF);
    }

    [Fact]
    public void AamAndAadConvertBetweenBinaryAndUnpackedBcd()
    {
        var (ax, _) = RunBcd32(a =>
        {
            a.mov(eax, 63);
            a.aam(10);
        });
        Assert.Equal(0x0603UL, ax);
        (ax, var f) = RunBcd32(a =>
        {
            a.mov(eax, 0x0603);
            a.aad(10);
        });
        Assert.Equal(63UL, ax);
        Assert.Equal(0UL, f & FlagBits.ZF);
    }

    [Fact]
    public void AamByZeroRaisesDivideError()
    {
        using var m = new TestMachine(bits: 32);
        m.Memory.Load(TestMachine.CodeBase, [0xD4, 0x00]);
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.DivideError, m.Cpu.Exception.Vector);
    }

    [Fact]
    public void RealModeCodeUses16BitAddressingStackAndCounters()
    {
        using var m = new TestMachine(bits: 16);
        m.Load(a =>
        {
            var loop = a.CreateLabel();
            a.mov(bx, 0x2000);
            a.mov(si, 4);
            a.mov(__word_ptr[bx + si + 2], 0x1234);
            a.mov(ax, __word_ptr[bx + si + 2]);
            a.push(ax);
            a.pop(dx);
            a.mov(cx, 5);
            a.xor(di, di);
            a.Label(ref loop);
            a.add(di, cx);
            a.loop(loop);
            // Backwards copy of 4 bytes with DF = 1.
            a.std();
            a.mov(si, 0x2009);
            a.mov(di, 0x3003);
            a.mov(cx, 4);
            a.rep.movsb();
            a.cld();
        }, bits: 16);
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0x1234UL, m.Cpu.Gpr(2) & 0xFFFF);

        Assert.Equal(0UL, m.Cpu.Gpr(1) & 0xFFFF);
        // The loop summed 5+4+3+2+1 into DI before DI was reused as the copy destination (now 0x3003 - 4).
        Assert.Equal(0x2FFFUL, m.Cpu.Gpr(7));
        Assert.Equal(0x2005UL, m.Cpu.Gpr(6));
        Assert.Equal(0x1234, m.Memory.Read<ushort>(0x3000));
        Assert.Equal(CpuMode.Real, m.Cpu.Mode);
    }

    /// <summary>An unmasked SIMD exception raises #XM and leaves the destination unchanged (SDM Vol. 1, 11.5.1).</summary>
    [Fact]
    public void UnmaskedSseDivideByZeroRaisesSimdException()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            // MXCSR with ZM (bit 9) cleared.
            a.mov(__dword_ptr[rsp - 8], 0x1F80 & ~0x200);
            a.ldmxcsr(__dword_ptr[rsp - 8]);
            a.mov(eax, 0x3F80_0000);
            a.movd(xmm0, eax);
            a.xorps(xmm1, xmm1);
            a.divss(xmm0, xmm1);
        });
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.SimdFloatingPoint, m.Cpu.Exception.Vector);
        Assert.Equal(0x3F80_0000u, global::System.Runtime.Intrinsics.Vector128.ToScalar(global::System.Runtime.Intrinsics.Vector128.AsUInt32(m.Cpu.XmmReg(0))));
        Assert.NotEqual(0u, m.Cpu.Mxcsr & 4);
    }

    /// <summary>An unmasked x87 exception is pending (FSW.ES) until the next waiting instruction raises #MF.</summary>
    [Fact]
    public void UnmaskedX87ExceptionIsReportedByTheNextWaitingInstruction()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(__word_ptr[rsp - 8], 0x037F & ~0x4);
            a.fldcw(__word_ptr[rsp - 8]);
            a.fld1();
            a.fldz();
            a.fdivp(st1, st0);
            a.nop();
            a.wait();
        });
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.FloatingPoint, m.Cpu.Exception.Vector);
        Assert.NotEqual(0, m.Cpu.Fsw & 0x84);
        // The FDIVP itself completed (ES set); the NOP ran; FWAIT faulted: 6 instructions retired.
        Assert.Equal(6, m.Cpu.InstructionsRetired);
    }

    [Fact]
    public void CpuidDescribesTheEngineAndNamesTheHypervisor()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 0x4000_0000);
            a.cpuid();
        });
        Assert.Equal(RunExit.Halted, m.Run());
        var name = new byte[12];
        BitConverter.TryWriteBytes(name.AsSpan(0), (uint)m.Cpu.Gpr(3));
        BitConverter.TryWriteBytes(name.AsSpan(4), (uint)m.Cpu.Gpr(1));
        BitConverter.TryWriteBytes(name.AsSpan(8), (uint)m.Cpu.Gpr(2));
        Assert.Equal("hv-bt-engine", global::System.Text.Encoding.ASCII.GetString(name));
    }

    [Fact]
    public void RdtscAdvances()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
            a.mov(rbx, rax);
            a.rdtsc();
            a.shl(rdx, 32);
            a.or(rax, rdx);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.True(m.Cpu.Gpr(0) > m.Cpu.Gpr(3));
        Assert.True(m.Cpu.Gpr(3) > 0);
    }
}
