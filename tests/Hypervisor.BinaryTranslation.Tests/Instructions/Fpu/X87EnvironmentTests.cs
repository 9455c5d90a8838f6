using System.Buffers.Binary;
using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Tests.Instructions.Fpu;

/// <summary>
/// FNSTENV/FLDENV/FNSAVE/FRSTOR in the layouts the host cannot run natively (the differential harness covers the
/// 64-bit-mode ones: 32-bit protected and, with 66h, 16-bit protected): the real-mode 14/28-byte environments and
/// the 32-bit-code 16-bit protected one, checked field by field against Intel SDM Vol. 1 Figures 8-9 to 8-12.
/// </summary>
public class X87EnvironmentTests
{
    private const ulong Image = 0x2000;

    /// <summary>A machine in real mode (16) or flat 32-bit protected mode (32) running raw code bytes, then HLT.</summary>
    private static TestMachine Machine(int bits, params byte[] code)
    {
        var m = new TestMachine(bits);
        m.Memory.Load(TestMachine.CodeBase, [.. code, 0xF4]);
        var c = m.Cpu;
        c.Fcw = 0x0A72;                 // RC = up, PC = double, IM/DM/OM... partly unmasked but nothing flagged
        c.Fsw = 0x3800 | 0x4500 | 0x20; // TOP = 7, C3 C2 C0, PE
        c.FpuValid = 0;
        c.St(0) = Float80.One;                              // physical 7: valid
        c.St(1) = Float80.PositiveZero;                     // physical 0: zero
        c.St(2) = Float80.PositiveInfinity;                 // physical 1: special
        c.St(3) = new Float80(0x1234, 0);                   // physical 2: denormal -> special
        for (int i = 0; i < 4; i++) c.SetStValid(i, true);  // physical 3..6 stay empty
        c.Fip = 0x000A_BCDE;                                // 20-bit linear in real mode
        c.Fdp = 0x0001_2345;
        c.Fop = 0x5A5;
        return m;
    }

    // Tags by physical register 7..0: 00 (one), 11 11 11 11 (3-6 empty), 10 (denormal), 10 (infinity), 01 (zero).
    private const ushort ExpectedTags = 0b00_11_11_11_11_10_10_01;

    private static ushort U16(TestMachine m, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(m.Memory.GetReadOnlySpan(Image + (ulong)offset, 2));

    private static uint U32(TestMachine m, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(m.Memory.GetReadOnlySpan(Image + (ulong)offset, 4));

    [Fact]
    public void TagWordEncodesValidZeroSpecialAndEmpty()
    {
        using var m = Machine(16);
        Assert.Equal(ExpectedTags, Hypervisor.BinaryTranslation.Instructions.Fpu.X87Environment.TagWord(m.Cpu));
    }

    [Fact]
    public void RealMode16BitEnvironmentSplitsThe20BitPointersAroundFop()
    {
        // fnstenv [0x2000] (16-bit operand size: 14 bytes, Figure 8-11).
        using var m = Machine(16, 0xD9, 0x36, 0x00, 0x20);
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0x0A72, U16(m, 0));
        Assert.Equal(0x7D20, U16(m, 2));
        Assert.Equal(ExpectedTags, U16(m, 4));
        Assert.Equal(0xBCDE, U16(m, 6));                 // FIP 15:0
        Assert.Equal(0xA000 | 0x5A5, U16(m, 8));         // FIP 19:16 in bits 15:12, FOP 10:0
        Assert.Equal(0x2345, U16(m, 10));                // FDP 15:0
        Assert.Equal(0x1000, U16(m, 12));                // FDP 19:16 in bits 15:12
        Assert.Equal(0x0A72 | 0x3F, m.Cpu.Fcw);          // every exception masked afterwards
    }

    [Fact]
    public void RealMode32BitEnvironmentUsesFigure8_10()
    {
        // o32 fnstenv [0x2000] (28 bytes).
        using var m = Machine(16, 0x66, 0xD9, 0x36, 0x00, 0x20);
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0xFFFF_0A72u, U32(m, 0));
        Assert.Equal(0xFFFF_7D20u, U32(m, 4));
        Assert.Equal(0xFFFF_0000u | ExpectedTags, U32(m, 8));
        Assert.Equal(0xFFFF_BCDEu, U32(m, 12));                 // FIP 15:0
        Assert.Equal(0x000Au << 12 | 0x5A5, U32(m, 16));       // FIP 31:16 in bits 27:12, FOP 10:0
        Assert.Equal(0xFFFF_2345u, U32(m, 20));                 // FDP 15:0
        Assert.Equal(0x0001u << 12, U32(m, 24));                // FDP 31:16 in bits 27:12
    }

    [Fact]
    public void Protected16BitEnvironmentFromThirtyTwoBitCodeHoldsSelectors()
    {
        using var m = Machine(32, 0x66, 0xD9, 0x35, 0x00, 0x20, 0x00, 0x00);
        m.Cpu.Fip = 0x0000_0008_1234_5678;   // FCS = 8 in bits 47:32, as the 32-bit FXSAVE image holds it
        m.Cpu.Fdp = 0x0000_0010_9ABC_DEF0;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0x0A72, U16(m, 0));
        Assert.Equal(0x5678, U16(m, 6));     // FIP offset 15:0
        Assert.Equal(0x0008, U16(m, 8));     // FCS (no FOP in this format)
        Assert.Equal(0xDEF0, U16(m, 10));
        Assert.Equal(0x0010, U16(m, 12));    // FDS
        Assert.Equal(0, m.Memory.GetReadOnlySpan(Image + 14, 1)[0]);   // nothing beyond 14 bytes
    }

    [Fact]
    public void Protected32BitEnvironmentFromThirtyTwoBitCode()
    {
        using var m = Machine(32, 0xD9, 0x35, 0x00, 0x20, 0x00, 0x00);
        m.Cpu.Fip = 0x0000_0008_1234_5678;
        m.Cpu.Fdp = 0x0000_0010_9ABC_DEF0;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0x1234_5678u, U32(m, 12));
        Assert.Equal(0x5A5u << 16 | 0x0008, U32(m, 16));   // FOP in bits 26:16, FCS in 15:0
        Assert.Equal(0x9ABC_DEF0u, U32(m, 20));
        Assert.Equal(0xFFFF_0010u, U32(m, 24));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RealModeSaveReinitialisesAndRestoreBringsEverythingBack(bool wide)
    {
        // [o32] fnsave [0x2000]; fldpi; [o32] frstor [0x2000]
        byte[] prefix = wide ? [0x66] : [];
        using var m = Machine(16, [.. prefix, 0xDD, 0x36, 0x00, 0x20, 0xD9, 0xEB, .. prefix, 0xDD, 0x26, 0x00, 0x20]);
        var c = m.Cpu;
        var regs = new Float80[8];
        for (int i = 0; i < 8; i++) regs[i] = c.St(i);
        var interp = m.Interpreter;
        interp.SingleStep = true;
        Assert.Equal(RunExit.BudgetExhausted, m.Run(1));
        // FNSAVE: the registers in stack order after the environment, then FNINIT.
        int env = wide ? 28 : 14;
        for (int i = 0; i < 8; i++)
            Assert.Equal(regs[i], Float80.FromBytes(m.Memory.GetReadOnlySpan(Image + (ulong)(env + 10 * i), 10)));
        Assert.Equal(0x037F, c.Fcw);
        Assert.Equal(0, c.Fsw);
        Assert.Equal(0, c.FpuValid);
        Assert.Equal(RunExit.BudgetExhausted, m.Run(1));   // fldpi
        Assert.Equal(RunExit.BudgetExhausted, m.Run(1));   // frstor
        Assert.Equal(0x0A72, c.Fcw);
        Assert.Equal(0x7D20, c.Fsw);
        Assert.Equal(0x87, c.FpuValid);                    // physical 7, 0, 1, 2
        for (int i = 0; i < 8; i++) Assert.Equal(regs[i], c.St(i));
        Assert.Equal(0xABCDEUL, c.Fip);
        Assert.Equal(0x12345UL, c.Fdp);
        Assert.Equal(0x5A5, c.Fop);
    }

    [Fact]
    public void LoadingAnEnvironmentThatUnmasksAFlaggedExceptionMakesItPending()
    {
        // fldenv [0x2000]; fnop (waiting: reports #MF)
        using var m = Machine(16, 0xD9, 0x26, 0x00, 0x20, 0xD9, 0xD0);
        var image = new byte[14];
        BinaryPrimitives.WriteUInt16LittleEndian(image, 0x037E);       // IM clear
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(2), 0x0001);   // IE flagged
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(4), 0xFFFF);
        m.Memory.Load(Image, image);
        Assert.Equal(RunExit.Exception, m.Run());
        Assert.Equal(Vectors.FloatingPoint, m.Cpu.Exception.Vector);
        Assert.Equal(TestMachine.CodeBase + 4, m.Cpu.Rip);
        Assert.Equal(0x8081, m.Cpu.Fsw);                               // ES and B follow the unmasked IE
    }

    [Fact]
    public void StoringTheEnvironmentMasksEverythingSoNothingStaysPending()
    {
        // fnstenv [0x2000]; fnop
        using var m = Machine(16, 0xD9, 0x36, 0x00, 0x20, 0xD9, 0xD0);
        m.Cpu.Fcw = 0x037E;
        m.Cpu.Fsw = 0x8081;
        Assert.Equal(RunExit.Halted, m.Run());
        Assert.Equal(0x8081, U16(m, 2));          // stored as it was
        Assert.Equal(0x037F, m.Cpu.Fcw);
        Assert.Equal(0x0001, m.Cpu.Fsw);
    }
}
