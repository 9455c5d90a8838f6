using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Tests.X87;

/// <summary>FADD/FSUB/FMUL/FDIV/FSQRT bit for bit against the host FPU, status word included.</summary>
public class X87ArithmeticDifferentialTests
{
    internal delegate Float80 Op(Float80 a, Float80 b, X87Control cw, ref X87Status st);

    private static readonly (string Name, Op Op)[] Ops =
    [
        ("add", Float80.Add),
        ("sub", Float80.Subtract),
        ("mul", Float80.Multiply),
        ("div", Float80.Divide),
        ("sqrt", (Float80 a, Float80 _, X87Control cw, ref X87Status st) => Float80.Sqrt(a, cw, ref st)),
    ];

    /// <summary>
    /// Compares one operation. When the emulation reports an unmasked IE/DE/ZE, the instruction faults before
    /// writing, so the host's ST(0) must still be the first operand (the documented caller contract).
    /// </summary>
    internal static void Check(Mismatches log, string name, Op op, Float80 a, Float80 b, ushort cw)
    {
        log.Case();
        ushort hsw = HostX87.Binary(name, a, b, cw, out Float80 hr);
        var st = X87Status.None;
        Float80 er = op(a, b, new X87Control(cw), ref st);
        ushort esw = (ushort)st;
        var control = new X87Control(cw);
        bool faulted = (control.Unmasked(st) & (X87Status.Invalid | X87Status.Denormal | X87Status.ZeroDivide)) != 0;
        Float80 expected = faulted ? a : er;
        if ((hsw & HostX87.ComparedStatus) != (esw & HostX87.ComparedStatus) || hr != expected)
            log.Add($"{name} cw={cw:X4} a={a} b={b}: host {hr} sw={hsw & HostX87.ComparedStatus:X4}, emu {expected} sw={esw & HostX87.ComparedStatus:X4}");
    }

    private static void Run(string name, int count, ushort[] controlWords, int seed)
    {
        var op = Ops.Single(o => o.Name == name).Op;
        var log = new Mismatches(name);
        var gen = new X87Operands(seed);
        foreach (Float80 a in X87Operands.Edges)
            foreach (Float80 b in X87Operands.Edges)
                Check(log, name, op, a, b, controlWords[(a.Significand ^ b.SignExponent) % (ulong)controlWords.Length]);
        int n = Mismatches.Scale(count);
        for (int i = 0; i < n; i++)
        {
            Float80 a = gen.Next();
            Float80 b = gen.Partner(a);
            Check(log, name, op, a, b, controlWords[i % controlWords.Length]);
        }
        log.AssertNone();
    }

    [Theory]
    [InlineData("add")]
    [InlineData("sub")]
    [InlineData("mul")]
    [InlineData("div")]
    [InlineData("sqrt")]
    public void MaskedMatchesHost(string name) => Run(name, 40_000, X87Operands.MaskedControlWords, 1234);

    /// <summary>Every mask combination: unmasked OE/UE rebias, unmasked IE/DE/ZE suppress the store.</summary>
    [Theory]
    [InlineData("add")]
    [InlineData("sub")]
    [InlineData("mul")]
    [InlineData("div")]
    [InlineData("sqrt")]
    public void AnyMasksMatchHost(string name)
    {
        var words = new List<ushort>();
        for (int masks = 0; masks < 64; masks++)
            words.Add((ushort)(0x40 | masks | ((masks % 4) << 8) | (((masks / 4) % 4) << 10)));
        Run(name, 20_000, [.. words], 99);
    }
}
