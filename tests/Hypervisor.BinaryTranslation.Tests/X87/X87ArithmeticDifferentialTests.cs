using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Tests.X87;

/// <summary>FADD/FSUB/FMUL/FDIV/FSQRT bit for bit against the host FPU, status word included.</summary>
public class X87ArithmeticDifferentialTests
{
    internal delegate Float80 Op(Float80 a, Float80 b, X87Control cw, ref X87Status st);

    private static readonly (string Name, Op Op)[] Ops =
    [
        ("add", (Float80 a, Float80 b, X87Control cw, ref X87Status st) => Float80.Add(a, b, cw, ref st)),
        ("sub", (Float80 a, Float80 b, X87Control cw, ref X87Status st) => Float80.Subtract(a, b, cw, ref st)),
        ("mul", (Float80 a, Float80 b, X87Control cw, ref X87Status st) => Float80.Multiply(a, b, cw, ref st)),
        ("div", (Float80 a, Float80 b, X87Control cw, ref X87Status st) => Float80.Divide(a, b, cw, ref st)),
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

    /// <summary>
    /// FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR/FCOM with m32/m64 operands: the operand is widened by WidenFloat32/64 and
    /// its denormal-ness passed on, so SNaN-vs-QNaN selection and DE match the host.
    /// </summary>
    [Theory]
    [InlineData("fadds")]
    [InlineData("fsubs")]
    [InlineData("fsubrs")]
    [InlineData("fmuls")]
    [InlineData("fdivs")]
    [InlineData("fdivrs")]
    [InlineData("fcoms")]
    [InlineData("faddl")]
    [InlineData("fsubl")]
    [InlineData("fsubrl")]
    [InlineData("fmull")]
    [InlineData("fdivl")]
    [InlineData("fdivrl")]
    [InlineData("fcoml")]
    public void MemoryOperandsMatchHost(string name)
    {
        var log = new Mismatches(name);
        var gen = new X87Operands(77);
        bool single = name.EndsWith('s');
        var words = new List<ushort>(X87Operands.MaskedControlWords);
        for (int masks = 0; masks < 64; masks++)
            words.Add((ushort)(0x40 | masks | ((masks % 4) << 8) | (((masks / 4) % 4) << 10)));
        int n = Mismatches.Scale(20_000);
        for (int i = 0; i < n; i++)
        {
            Float80 a = gen.Next();
            ulong raw = (ulong)gen.NextInt64() ^ ((ulong)gen.NextInt64() << 7);
            ulong bits;
            if (single)
            {
                uint v = (uint)raw;
                v = (i % 4) switch
                {
                    0 => v & 0x807F_FFFF,                                      // zero/denormal
                    1 => (v & 0x807F_FFFF) | 0x7F80_0000,                      // inf/NaN
                    _ => v,
                };
                bits = v;
            }
            else
            {
                bits = (i % 4) switch
                {
                    0 => raw & 0x800F_FFFF_FFFF_FFFF,
                    1 => (raw & 0x800F_FFFF_FFFF_FFFF) | 0x7FF0_0000_0000_0000,
                    _ => raw,
                };
            }
            ushort cw = words[i % words.Count];
            var control = new X87Control(cw);
            log.Case();
            ushort hsw = HostX87.Memory(name, a, bits, cw, out Float80 hr);
            Float80 b = single ? Float80.WidenFloat32((uint)bits, out bool den) : Float80.WidenFloat64(bits, out den);
            var st = X87Status.None;
            Float80 er = name[..^1] switch
            {
                "fadd" => Float80.Add(a, b, control, ref st, den),
                "fsub" => Float80.Subtract(a, b, control, ref st, den),
                "fsubr" => Float80.Subtract(b, a, control, ref st, den),
                "fmul" => Float80.Multiply(a, b, control, ref st, den),
                "fdiv" => Float80.Divide(a, b, control, ref st, den),
                "fdivr" => Float80.Divide(b, a, control, ref st, den),
                _ => CompareKeep(a, b, control, ref st, den),
            };
            if (control.SuppressesStore(st, false))
                er = a;
            if ((hsw & HostX87.ComparedStatus) != ((ushort)st & HostX87.ComparedStatus) || hr != er)
                log.Add($"{name} cw={cw:X4} a={a} m={bits:X}: host {hr} sw={hsw & HostX87.ComparedStatus:X4}, emu {er} sw={(ushort)st & HostX87.ComparedStatus:X4}");
        }
        log.AssertNone();

        static Float80 CompareKeep(Float80 a, Float80 b, X87Control cw, ref X87Status st, bool den)
        {
            Float80.Compare(a, b, false, cw, ref st, den);
            return a;
        }
    }
}
