using Hypervisor.BinaryTranslation.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Instructions;

/// <summary>
/// Encodings whose meaning depends on CPUID: without BMI1/LZCNT, F3 0F BC/BD are BSF/BSR; without CET, ENDBR64
/// is a NOP (what Linux's __ffs and CET-built user space rely on).
/// </summary>
public class PreBmiEncodingTests
{
    [Fact]
    public void TzcntOfZeroBehavesAsBsfLeavingTheDestinationAndSettingZf()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.mov(eax, 0x1234);
            a.xor(ecx, ecx);
            a.tzcnt(eax, ecx);
            a.setz(bl);
            a.mov(edx, 0x80);
            a.lzcnt(esi, edx);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0x1234UL, m.Cpu.Gpr(0));
        Assert.Equal(1UL, m.Cpu.Gpr(3) & 0xFF);
        Assert.Equal(7UL, m.Cpu.Gpr(6)); // BSR: index of the highest set bit, not the leading-zero count (24)
    }

    [Fact]
    public void Endbr64IsANop()
    {
        using var m = new TestMachine();
        m.Load(a =>
        {
            a.endbr64();
            a.mov(eax, 7);
        });
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(7UL, m.Cpu.Gpr(0));
    }
}
