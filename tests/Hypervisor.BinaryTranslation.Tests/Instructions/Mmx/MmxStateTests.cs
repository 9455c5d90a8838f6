using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.State;
using System.Runtime.Intrinsics;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;
using IdentityPaging = Hypervisor.BinaryTranslation.Tests.Memory.IdentityPaging;

namespace Hypervisor.BinaryTranslation.Tests.Instructions.Mmx;

/// <summary>
/// What the host-CPU harness cannot provoke natively: the CR0.EM/TS and CR4.OSFXSR gates, #MF for a pending
/// x87 exception, and MASKMOVQ's memory behaviour at a faulting address (Intel SDM Vol. 1, 9.5-9.6; Vol. 3,
/// 2.5 and 13.1.4). The x87-state effects are also asserted here directly (SDM Vol. 1, Table 9-2).
/// </summary>
public class MmxStateTests
{
    private static TestMachine Machine(ulong cr0Set = 0, ulong cr4Clear = 0)
    {
        var m = new TestMachine(ramSize: 4 << 20);
        var s = TestMachine.InitialState(64, 0);
        IdentityPaging.Install(m.Memory, s);
        s.Cr0 |= cr0Set;
        s.Cr4 &= ~cr4Clear;
        m.Cpu.Load(s);
        return m;
    }

    [Fact]
    public void WritingAnMmRegisterSetsTopZeroAllTagsValidAndItsExponentToOnes()
    {
        using var m = Machine();
        m.Load(a =>
        {
            a.fninit();
            a.fld1();
            a.fldz();
            a.mov(rax, 0x0123_4567_89AB_CDEF);
            a.movq(mm3, rax);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        var c = m.Cpu;
        Assert.Equal(0, c.FpuTop);
        Assert.Equal(0xFF, c.FpuValid);
        Assert.Equal(0x0123_4567_89AB_CDEFUL, c.FpuRegs[3].Significand);
        Assert.Equal(0xFFFF, c.FpuRegs[3].SignExponent);
        // FLD1 went to physical register 7 and keeps its encoding: only the written MM register changes.
        Assert.Equal(0x3FFF, c.FpuRegs[7].SignExponent);
        Assert.Equal(1UL << 63, c.FpuRegs[7].Significand);
    }

    [Fact]
    public void ReadingAnMmRegisterMakesTheTransitionButKeepsItsExponent()
    {
        using var m = Machine();
        m.Load(a =>
        {
            a.fninit();
            a.fld1();
            a.movd(eax, mm7);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0, m.Cpu.FpuTop);
        Assert.Equal(0xFF, m.Cpu.FpuValid);
        Assert.Equal(0x3FFF, m.Cpu.FpuRegs[7].SignExponent);
        Assert.Equal(0UL, m.Cpu.Gpr(0));
    }

    [Fact]
    public void EmmsEmptiesEveryTagAndKeepsTheRegisters()
    {
        using var m = Machine();
        m.Load(a =>
        {
            a.mov(rax, -1L);
            a.movq(mm1, rax);
            a.emms();
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0, m.Cpu.FpuValid);
        Assert.Equal(0, m.Cpu.FpuTop);
        Assert.Equal(ulong.MaxValue, m.Cpu.FpuRegs[1].Significand);
    }

    [Fact]
    public void PackedArithmeticOnMm()
    {
        using var m = Machine();
        m.Load(a =>
        {
            a.mov(rax, 0x7FFF_8000_0001_FFFFL);
            a.movq(mm0, rax);
            a.mov(rax, 0x0001_FFFF_7FFF_0001L);
            a.movq(mm1, rax);
            a.paddsw(mm0, mm1);
            a.movq(rbx, mm0);
            a.movq(mm2, mm1);
            a.punpckhwd(mm2, mm0);
            a.movq(rcx, mm2);
            a.packsswb(mm1, mm0);
            a.movq(rdx, mm1);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        // Saturating word adds: 7FFF+1 = 7FFF, 8000+FFFF = 8000, 0001+7FFF = 7FFF, FFFF+0001 = 0000.
        Assert.Equal(0x7FFF_8000_7FFF_0000UL, m.Cpu.Gpr(3));
        // High words interleaved from word 0 up, destination first: dst.w2 FFFF, src.w2 8000, dst.w3 0001, src.w3 7FFF.
        Assert.Equal(0x7FFF_0001_8000_FFFFUL, m.Cpu.Gpr(1));
        // Signed-saturated bytes: destination words in the low half, source words in the high half.
        Assert.Equal(0x7F80_7F00_01FF_7F01UL, m.Cpu.Gpr(2));
    }

    [Fact]
    public void EmulatedFpuMakesMmxInvalid()
    {
        using var m = Machine(cr0Set: 4);
        m.Load(a => a.paddb(mm0, mm1));
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.InvalidOpcode, m.Cpu.Exception.Vector);
        Assert.Equal(TestMachine.CodeBase, m.Cpu.Rip);
    }

    [Fact]
    public void TaskSwitchedRaisesDeviceNotAvailable()
    {
        using var m = Machine(cr0Set: 8);
        m.Load(a => a.emms());
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.DeviceNotAvailable, m.Cpu.Exception.Vector);
    }

    [Fact]
    public void WithoutOsfxsrOnlyTheSseAdditionsAreInvalid()
    {
        using (var m = Machine(cr4Clear: 0x200))
        {
            m.Load(a =>
            {
                a.paddq(mm0, mm1);
            });
            Assert.Equal(RunExit.Exception, m.Run());
            Assert.Equal(Vectors.InvalidOpcode, m.Cpu.Exception.Vector);
        }
        using (var m = Machine(cr4Clear: 0x200))
        {
            m.Load(a => a.pavgb(mm0, mm1));
            Assert.Equal(RunExit.Exception, m.Run());
            Assert.Equal(Vectors.InvalidOpcode, m.Cpu.Exception.Vector);
        }
        using (var m = Machine(cr4Clear: 0x200))
        {
            m.Load(a =>
            {
                a.paddw(mm0, mm1);
                a.pshufw(mm2, mm0, 0x1B);
                a.movntq(__qword_ptr[0x2000], mm2);
            });
            Assert.Equal(RunExit.Halted, m.Run());
        }
    }

    [Fact]
    public void PendingX87ExceptionRaisesFloatingPointErrorBeforeTheTransition()
    {
        using var m = Machine();
        m.Load(a => a.por(mm0, mm1));
        m.Cpu.Fcw = 0x037E; // IM clear
        m.Cpu.Fsw = 0x8081 | 5 << 11; // IE, ES, B; TOP = 5
        m.Cpu.FpuValid = 0x20;
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.FloatingPoint, m.Cpu.Exception.Vector);
        Assert.Equal(5, m.Cpu.FpuTop);
        Assert.Equal(0x20, m.Cpu.FpuValid);
    }

    [Fact]
    public void Cvtpi2psFromMemoryIgnoresX87State()
    {
        using var m = Machine();
        m.Memory.Write(0x2000, BitConverter.GetBytes(3L << 32 | 2));
        m.Load(a => a.cvtpi2ps(xmm1, __qword_ptr[0x2000]));
        m.Cpu.Fsw = 0x8081 | 5 << 11;
        m.Cpu.FpuValid = 0x20;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(5, m.Cpu.FpuTop);
        Assert.Equal(0x20, m.Cpu.FpuValid);
        Assert.Equal(2f, m.Cpu.XmmReg(1).AsSingle().GetElement(0));
        Assert.Equal(3f, m.Cpu.XmmReg(1).AsSingle().GetElement(1));
    }

    [Fact]
    public void UnmaskedPrecisionInCvtpi2psRaisesSimdExceptionWithoutTheTransition()
    {
        using var m = Machine();
        m.Load(a =>
        {
            a.mov(eax, 0x7FFF_FFFF);
            a.movd(mm2, eax);
            a.emms();
            a.cvtpi2ps(xmm3, mm2);
        });
        m.Cpu.Mxcsr = 0x1F80 & ~0x1000u; // PM clear: inexact results trap
        m.Cpu.XmmReg(3) = Vector128.Create(0x1111_1111_2222_2222UL, 0x3333_3333_4444_4444UL).AsByte();
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.SimdFloatingPoint, m.Cpu.Exception.Vector);
        // 0x7FFFFFFF is not representable in single precision: PE is set, the destination and x87 state kept.
        Assert.Equal(0x20u, m.Cpu.Mxcsr & 0x3F);
        Assert.Equal(0x1111_1111_2222_2222UL, m.Cpu.XmmReg(3).AsUInt64().GetElement(0));
        Assert.Equal(0, m.Cpu.FpuValid);
    }

    [Fact]
    public void MaskmovqWithAnEmptyMaskTouchesNoMemory()
    {
        using var m = Machine();
        m.Load(a =>
        {
            a.pxor(mm1, mm1);
            a.mov(rdi, unchecked((long)0x8000_0000_0000_0000));
            a.maskmovq(mm0, mm1);
        });
        Assert.Equal(RunExit.Halted, m.Run());
    }

    [Fact]
    public void MaskmovqWithASelectedByteChecksTheAddress()
    {
        using var m = Machine();
        m.Load(a =>
        {
            a.pcmpeqb(mm1, mm1);
            a.mov(rax, 0x1122_3344_5566_7788);
            a.movq(mm0, rax);
            a.mov(rdi, unchecked((long)0x8000_0000_0000_0000));
            a.maskmovq(mm0, mm1);
        });
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.GeneralProtection, m.Cpu.Exception.Vector);
    }

    [Fact]
    public void MaskmovqAcrossIntoANotPresentPageStoresNothing()
    {
        using var m = Machine();
        // Unmap 2 MiB-4 MiB (the second 2 MiB entry of the first page directory).
        m.Memory.Write(IdentityPaging.TablesBase + 0x2000 + 8, 0UL);
        m.Memory.Write(0x1F_FFFC, BitConverter.GetBytes(0xAAAA_AAAAU));
        m.Load(a =>
        {
            a.pcmpeqb(mm1, mm1);
            a.mov(rax, 0x1122_3344_5566_7788);
            a.movq(mm0, rax);
            a.mov(rdi, 0x1F_FFFC);
            a.maskmovq(mm0, mm1);
        });
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.PageFault, m.Cpu.Exception.Vector);
        var bytes = new byte[4];
        m.Memory.Read(0x1F_FFFC, bytes);
        Assert.Equal(0xAAAA_AAAAU, BitConverter.ToUInt32(bytes));
    }

    [Fact]
    public void MaskmovqStoresOnlySelectedBytes()
    {
        using var m = Machine();
        m.Memory.Write(0x3000, BitConverter.GetBytes(0xAAAA_AAAA_AAAA_AAAAUL));
        m.Load(a =>
        {
            a.mov(rax, unchecked((long)0x8000_0080_0000_8000UL));
            a.movq(mm1, rax);
            a.mov(rax, 0x1122_3344_5566_7788);
            a.movq(mm0, rax);
            a.mov(rdi, 0x3000);
            a.maskmovq(mm0, mm1);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        var bytes = new byte[8];
        m.Memory.Read(0x3000, bytes);
        Assert.Equal(0x11AA_AA44_AAAA_77AAUL, BitConverter.ToUInt64(bytes));
    }
}
