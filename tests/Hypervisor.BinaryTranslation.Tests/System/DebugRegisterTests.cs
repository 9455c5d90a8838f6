using Hypervisor.BinaryTranslation.State;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>MOV to/from DR0-DR7 (Intel SDM Vol. 2B MOV DR; Vol. 3, 19.2).</summary>
public class DebugRegisterTests
{
    [Fact]
    public void AddressRegistersHoldAnyValue()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 0x1234_5678_9ABC_DEF0UL);
            a.mov(dr3, rax);
            a.mov(rbx, dr3);
        });
        Expect.Halts(m);
        Assert.Equal(0x1234_5678_9ABC_DEF0UL, m.Cpu.Gpr(3));
    }

    [Fact]
    public void Dr6AndDr7KeepTheirFixedBits()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.xor(eax, eax);
            a.mov(dr6, rax);
            a.mov(rbx, dr6);
            a.mov(dr7, rax);
            a.mov(rcx, dr7);
        });
        Expect.Halts(m);
        Assert.Equal(0xFFFF_0FF0UL, m.Cpu.Gpr(3));
        Assert.Equal(0x400UL, m.Cpu.Gpr(1));
    }

    [Fact]
    public void Dr4AndDr5AliasDr6AndDr7WithoutCr4De()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 0x3);
            a.mov(dr5, rax);
            a.mov(rbx, dr7);
            a.mov(rcx, dr4);
        });
        Expect.Halts(m);
        Assert.Equal(0x403UL, m.Cpu.Gpr(3));
        Assert.Equal(m.Cpu.Architectural.Dr6, m.Cpu.Gpr(1));
    }

    [Theory]
    [InlineData(6)]
    [InlineData(7)]
    public void UpperHalfOfDr6AndDr7IsReserved(int register)
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(rax, 1UL << 32);
            if (register == 6) a.mov(dr6, rax);
            else a.mov(dr7, rax);
        });
        Expect.Gp(m);
    }

    /// <summary>DR7.GD: the next MOV DR raises a #DB fault with DR6.BD set; GD is cleared for the handler.</summary>
    [Fact]
    public void GeneralDetectRaisesDebugFaultBeforeTheAccess()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 1 << 13);
            a.mov(dr7, rax);
            a.mov(rbx, dr0);
        });
        Expect.Fault(m, Vectors.Debug);
        Assert.Equal(TestMachine.CodeBase + 5 + 3, m.Cpu.Rip);
        Assert.NotEqual(0UL, m.Cpu.Architectural.Dr6 & 1UL << 13);
        Assert.Equal(0UL, m.Cpu.Architectural.Dr7 & 1UL << 13);
    }

    [Fact]
    public void DebugRegistersNeedCpl0()
    {
        using var m = new TestMachine(cpl: 3);
        m.Load(a => a.mov(rax, dr7));
        Expect.Gp(m);
    }
}
