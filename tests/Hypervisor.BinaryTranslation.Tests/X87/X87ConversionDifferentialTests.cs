using global::System.Buffers.Binary;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Tests.X87;

/// <summary>FILD/FIST(P)/FISTTP, FLD/FSTP m32/m64, FBLD/FBSTP and FRNDINT bit for bit against the host FPU.</summary>
public class X87ConversionDifferentialTests
{
    private static ushort[] AllControlWords()
    {
        var words = new List<ushort>(X87Operands.MaskedControlWords);
        for (int masks = 0; masks < 64; masks += 1)
            words.Add((ushort)(0x40 | masks | ((masks % 4) << 8) | (((masks / 4) % 4) << 10)));
        return [.. words];
    }

    private static readonly ushort[] Words = AllControlWords();

    private static string Hex(ReadOnlySpan<byte> b) => Convert.ToHexString(b);

    private static void CheckStore(Mismatches log, string op, Float80 a, ushort cw)
    {
        log.Case();
        var control = new X87Control(cw);
        Span<byte> host = stackalloc byte[10];
        host.Fill(0xA5);
        ushort hsw = HostX87.Store(op, a, cw, host);
        Span<byte> emu = stackalloc byte[10];
        emu.Fill(0xA5);
        var st = X87Status.None;
        int width;
        switch (op)
        {
            case "fistp16" or "fistp32" or "fistp64" or "fisttp16" or "fisttp32" or "fisttp64":
            {
                int bits = int.Parse(op[^2..]);
                width = bits / 8;
                long v = Float80.ToInteger(a, bits, op.StartsWith("fistt"), control, ref st);
                Span<byte> tmp = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(tmp, v);
                if (!control.SuppressesStore(st, true))
                    tmp[..width].CopyTo(emu);
                break;
            }
            case "fstp32":
            {
                width = 4;
                uint v = Float80.ToFloat32Bits(a, control, ref st);
                if (!control.SuppressesStore(st, true))
                    BinaryPrimitives.WriteUInt32LittleEndian(emu, v);
                break;
            }
            case "fstp64":
            {
                width = 8;
                ulong v = Float80.ToFloat64Bits(a, control, ref st);
                if (!control.SuppressesStore(st, true))
                    BinaryPrimitives.WriteUInt64LittleEndian(emu, v);
                break;
            }
            default:
            {
                width = 10;
                Span<byte> tmp = stackalloc byte[10];
                Float80.ToPackedBcd(a, tmp, control, ref st);
                if (!control.SuppressesStore(st, true))
                    tmp.CopyTo(emu);
                break;
            }
        }
        ushort esw = (ushort)st;
        if ((hsw & HostX87.ComparedStatus) != (esw & HostX87.ComparedStatus) || !host.SequenceEqual(emu))
            log.Add($"{op} cw={cw:X4} a={a}: host {Hex(host[..width])} sw={hsw & HostX87.ComparedStatus:X4}, emu {Hex(emu[..width])} sw={esw & HostX87.ComparedStatus:X4}");
    }

    [Theory]
    [InlineData("fistp16")]
    [InlineData("fistp32")]
    [InlineData("fistp64")]
    [InlineData("fisttp16")]
    [InlineData("fisttp32")]
    [InlineData("fisttp64")]
    [InlineData("fstp32")]
    [InlineData("fstp64")]
    [InlineData("fbstp")]
    public void StoresMatchHost(string op)
    {
        var log = new Mismatches(op);
        var gen = new X87Operands(7);
        foreach (Float80 a in X87Operands.Edges)
            foreach (ushort cw in Words)
                CheckStore(log, op, a, cw);
        int n = Mismatches.Scale(20_000);
        for (int i = 0; i < n; i++)
        {
            Float80 a = gen.Next();
            // Bias towards the integer/BCD ranges and the float32/float64 limits where the interesting cases live.
            if (i % 3 == 0)
                a = new Float80(a.IsNegative, 16383 + gen.NextInt(op.Contains("32") ? 34 : op.Contains("16") ? 18 : 66) - 1, a.Significand | 0x8000_0000_0000_0000);
            else if (i % 3 == 1 && op.StartsWith("fstp"))
            {
                int lim = op == "fstp32" ? 127 : 1023;
                int e = gen.NextInt(2) == 0 ? lim + gen.NextInt(4) - 2 : -lim - gen.NextInt(op == "fstp32" ? 26 : 55);
                a = new Float80(a.IsNegative, 16383 + e, gen.NextSignificand());
            }
            CheckStore(log, op, a, Words[i % Words.Length]);
        }
        log.AssertNone();
    }

    private static void CheckLoad(Mismatches log, string op, ReadOnlySpan<byte> src, ushort cw)
    {
        log.Case();
        var control = new X87Control(cw);
        ushort hsw = HostX87.Load(op, src, cw, out Float80 hr);
        var st = X87Status.None;
        Float80 er = op switch
        {
            "fild16" => Float80.FromInt16(BinaryPrimitives.ReadInt16LittleEndian(src)),
            "fild32" => Float80.FromInt32(BinaryPrimitives.ReadInt32LittleEndian(src)),
            "fild64" => Float80.FromInt64(BinaryPrimitives.ReadInt64LittleEndian(src)),
            "fld32" => Float80.FromFloat32Bits(BinaryPrimitives.ReadUInt32LittleEndian(src), control, ref st),
            "fld64" => Float80.FromFloat64Bits(BinaryPrimitives.ReadUInt64LittleEndian(src), control, ref st),
            _ => Float80.FromPackedBcd(src),
        };
        ushort esw = (ushort)st;
        // An unmasked IE pushes nothing, so the oracle's FSTP finds an empty register and (IE unmasked) stores
        // nothing either: the zero-initialised result stays. An unmasked DE does not stop the load.
        if ((control.Unmasked(st) & X87Status.Invalid) != 0)
            er = default;
        if ((hsw & HostX87.ComparedStatus) != (esw & HostX87.ComparedStatus) || hr != er)
            log.Add($"{op} cw={cw:X4} src={Hex(src)}: host {hr} sw={hsw & HostX87.ComparedStatus:X4}, emu {er} sw={esw & HostX87.ComparedStatus:X4}");
    }

    [Theory]
    [InlineData("fild16")]
    [InlineData("fild32")]
    [InlineData("fild64")]
    [InlineData("fld32")]
    [InlineData("fld64")]
    [InlineData("fbld")]
    public void LoadsMatchHost(string op)
    {
        var log = new Mismatches(op);
        var gen = new X87Operands(11);
        Span<byte> src = stackalloc byte[10];
        int n = Mismatches.Scale(20_000);
        for (int i = 0; i < n; i++)
        {
            src.Clear();
            long v = gen.NextInt64();
            BinaryPrimitives.WriteInt64LittleEndian(src, v);
            if (op is "fld32" or "fld64" && i % 4 == 0)
            {
                // Zero/denormal/inf/NaN exponent fields with random fractions and signs.
                ulong raw = (ulong)v;
                if (op == "fld32")
                    BinaryPrimitives.WriteUInt32LittleEndian(src, (uint)raw & 0x807F_FFFF | (i % 8 == 0 ? 0x7F80_0000u : 0u));
                else
                    BinaryPrimitives.WriteUInt64LittleEndian(src, raw & 0x800F_FFFF_FFFF_FFFF | (i % 8 == 0 ? 0x7FF0_0000_0000_0000UL : 0UL));
            }
            if (op == "fbld")
            {
                ulong digits = (ulong)Math.Abs(v % 1_000_000_000_000_000_000L);
                for (int k = 0; k < 9; k++)
                {
                    src[k] = (byte)((digits % 10) | ((digits / 10 % 10) << 4));
                    digits /= 100;
                }
                src[9] = (byte)(i % 2 == 0 ? 0x80 : 0);
            }
            CheckLoad(log, op, src, Words[i % Words.Length]);
        }
        log.AssertNone();
    }

    [Fact]
    public void RoundToIntegerMatchesHost()
    {
        var log = new Mismatches("frndint");
        var gen = new X87Operands(13);
        int n = Mismatches.Scale(30_000);
        foreach (Float80 a in X87Operands.Edges)
            foreach (ushort cw in Words)
                X87ArithmeticDifferentialTests.Check(log, "rndint", Rnd, a, a, cw);
        for (int i = 0; i < n; i++)
        {
            Float80 a = i % 2 == 0 ? gen.Normal(66) : gen.Next();
            X87ArithmeticDifferentialTests.Check(log, "rndint", Rnd, a, a, Words[i % Words.Length]);
        }
        log.AssertNone();

        static Float80 Rnd(Float80 a, Float80 b, X87Control cw, ref X87Status st) => Float80.RoundToInteger(a, cw, ref st);
    }
}
