using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Tests.X87;

/// <summary>FCOM/FUCOM/FTST, FXAM, FPREM/FPREM1, FSCALE, FXTRACT and FLDxx against the host FPU.</summary>
public class X87OperationDifferentialTests
{
    private static readonly ushort[] Words = BuildWords();

    private static ushort[] BuildWords()
    {
        var words = new List<ushort>(X87Operands.MaskedControlWords);
        for (int masks = 0; masks < 64; masks++)
            words.Add((ushort)(0x40 | masks | ((masks % 4) << 8) | (((masks / 4) % 4) << 10)));
        return [.. words];
    }

    private static readonly Dictionary<string, X87ArithmeticDifferentialTests.Op> Ops = new()
    {
        ["com"] = (Float80 a, Float80 b, X87Control cw, ref X87Status st) => { Float80.Compare(a, b, false, cw, ref st); return a; },
        ["ucom"] = (Float80 a, Float80 b, X87Control cw, ref X87Status st) => { Float80.Compare(a, b, true, cw, ref st); return a; },
        ["tst"] = (Float80 a, Float80 b, X87Control cw, ref X87Status st) => { Float80.Compare(a, Float80.PositiveZero, false, cw, ref st); return a; },
        ["xam"] = (Float80 a, Float80 b, X87Control cw, ref X87Status st) => { Float80.Examine(a, ref st); return a; },
        ["prem"] = (Float80 a, Float80 b, X87Control cw, ref X87Status st) => Float80.Remainder(a, b, false, cw, ref st),
        ["prem1"] = (Float80 a, Float80 b, X87Control cw, ref X87Status st) => Float80.Remainder(a, b, true, cw, ref st),
        ["scale"] = Float80.Scale,
    };

    [Theory]
    [InlineData("com")]
    [InlineData("ucom")]
    [InlineData("tst")]
    [InlineData("xam")]
    [InlineData("prem")]
    [InlineData("prem1")]
    [InlineData("scale")]
    public void MatchesHost(string name)
    {
        var op = Ops[name];
        var log = new Mismatches(name);
        var gen = new X87Operands(21);
        foreach (Float80 a in X87Operands.Edges)
            foreach (Float80 b in X87Operands.Edges)
                X87ArithmeticDifferentialTests.Check(log, name, op, a, b, Words[(a.Significand ^ b.SignExponent ^ (ulong)a.SignExponent) % (ulong)Words.Length]);
        int n = Mismatches.Scale(30_000);
        for (int i = 0; i < n; i++)
        {
            Float80 a = gen.Next();
            Float80 b = gen.Partner(a);
            if (name == "scale" && i % 2 == 0)
                b = Float80.FromInt64(gen.NextInt64() >> gen.NextInt(64) >> 40);   // scales that stay near the range
            if (name.StartsWith("prem") && i % 3 == 0)
                b = new Float80(gen.NextInt(2) == 0, Math.Clamp(a.BiasedExponent - gen.NextInt(200), 1, 0x7FFE), gen.NextSignificand());
            if (name.EndsWith("com") && i % 4 == 0)
                b = a;
            X87ArithmeticDifferentialTests.Check(log, name, op, a, b, Words[i % Words.Length]);
        }
        log.AssertNone();
    }

    [Fact]
    public void ExtractMatchesHost()
    {
        var log = new Mismatches("fxtract");
        var gen = new X87Operands(23);
        int n = Mismatches.Scale(20_000);
        for (int i = 0; i < n + X87Operands.Edges.Length; i++)
        {
            Float80 a = i < X87Operands.Edges.Length ? X87Operands.Edges[i] : gen.Next();
            ushort cw = Words[i % Words.Length];
            log.Case();
            ushort hsw = HostX87.Push("xtract", a, cw, out Float80 h0, out Float80 h1);
            var st = X87Status.None;
            Float80 sig = Float80.Extract(a, new X87Control(cw), ref st, out Float80 exp);
            bool faulted = new X87Control(cw).SuppressesStore(st, false);
            bool same = (hsw & HostX87.ComparedStatus) == ((ushort)st & HostX87.ComparedStatus) && (faulted || (h0 == sig && h1 == exp));
            if (!same)
                log.Add($"fxtract cw={cw:X4} a={a}: host {h0} {h1} sw={hsw & HostX87.ComparedStatus:X4}, emu {sig} {exp} sw={(ushort)st & HostX87.ComparedStatus:X4}");
        }
        log.AssertNone();
    }

    [Fact]
    public void ConstantsMatchHost()
    {
        var log = new Mismatches("fldconst");
        foreach (ushort cw in Words)
        {
            for (int c = 0; c < 7; c++)
            {
                log.Case();
                ushort hsw = HostX87.Constant(c, cw, out Float80 h);
                Float80 e = Float80.LoadConstant((Float80.Constant)c, new X87Control(cw));
                if (h != e || (hsw & HostX87.ComparedStatus) != 0)
                    log.Add($"const {(Float80.Constant)c} cw={cw:X4}: host {h} sw={hsw & HostX87.ComparedStatus:X4}, emu {e}");
            }
        }
        log.AssertNone();
    }
}
