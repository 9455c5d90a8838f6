using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Tests.X87;

/// <summary>
/// Operand generator: a fixed list of edge encodings (every class of SDM Table 8-3 and the unsupported ones,
/// range limits of all three formats, rounding-tie significands for every precision) mixed with random values,
/// and partners chosen to land near cancellation, ties, overflow and underflow.
/// </summary>
internal sealed class X87Operands(int seed)
{
    private readonly Random _rng = new(seed);

    public static readonly Float80[] Edges = BuildEdges();

    /// <summary>All control words exercised: 4 RC x PC {24, 53, 64, reserved} with all exceptions masked.</summary>
    public static readonly ushort[] MaskedControlWords = BuildControlWords(0x3F);

    private static ushort[] BuildControlWords(int masks)
    {
        var list = new List<ushort>();
        for (int rc = 0; rc < 4; rc++)
            for (int pc = 0; pc < 4; pc++)
                list.Add((ushort)(0x40 | masks | (pc << 8) | (rc << 10)));
        return [.. list];
    }

    private static Float80[] BuildEdges()
    {
        var v = new List<Float80>();
        ulong J = 0x8000_0000_0000_0000;
        foreach (bool s in new[] { false, true })
        {
            v.Add(new Float80(s, 0, 0));                          // zero
            v.Add(new Float80(s, 0, 1));                          // smallest denormal
            v.Add(new Float80(s, 0, 0x7FFF_FFFF_FFFF_FFFF));      // largest denormal
            v.Add(new Float80(s, 0, 0x4000_0000_0000_0001));
            v.Add(new Float80(s, 0, J));                          // pseudo-denormal
            v.Add(new Float80(s, 0, J | 0x1234));
            v.Add(new Float80(s, 1, J));                          // smallest normal
            v.Add(new Float80(s, 1, ulong.MaxValue));
            v.Add(new Float80(s, 0x7FFE, ulong.MaxValue));        // largest normal
            v.Add(new Float80(s, 0x7FFE, J));
            v.Add(new Float80(s, 16383, J));                      // 1
            v.Add(new Float80(s, 16383, J | 1));
            v.Add(new Float80(s, 16383, ulong.MaxValue));
            v.Add(new Float80(s, 16384, J | 0x4000_0000_0000_0000)); // 3
            v.Add(new Float80(s, 16383 + 62, ulong.MaxValue));
            v.Add(new Float80(s, 16383 + 63, J));                 // 2^63
            v.Add(new Float80(s, 16383 + 14, 0xFFFE_0000_0000_0000)); // 32767
            v.Add(new Float80(s, 16383 + 15, J));                 // 32768
            v.Add(new Float80(s, 16383 + 31, J));
            v.Add(new Float80(s, 16383 - 1, J));                  // 0.5
            v.Add(new Float80(s, 16383 - 1, J | 1));
            v.Add(new Float80(s, 16383 + 1, J | 0x4000_0000_0000_0000)); // 2.5 rounding tie
            v.Add(new Float80(s, 16383 + 127, ulong.MaxValue));   // float32 max neighbourhood
            v.Add(new Float80(s, 16383 + 127, 0xFFFF_FF80_0000_0000));
            v.Add(new Float80(s, 16383 + 127, 0xFFFF_FF7F_FFFF_FFFF));
            v.Add(new Float80(s, 16383 - 126, J));                // float32 min normal
            v.Add(new Float80(s, 16383 - 127, 0xFFFF_FF00_0000_0000));
            v.Add(new Float80(s, 16383 - 149, J));                // float32 min denormal
            v.Add(new Float80(s, 16383 - 150, J));
            v.Add(new Float80(s, 16383 - 150, J | 1));
            v.Add(new Float80(s, 16383 + 1023, ulong.MaxValue)); // float64 max neighbourhood
            v.Add(new Float80(s, 16383 + 1023, 0xFFFF_FFFF_FFFF_F800));
            v.Add(new Float80(s, 16383 + 1023, 0xFFFF_FFFF_FFFF_FBFF));
            v.Add(new Float80(s, 16383 - 1022, J));
            v.Add(new Float80(s, 16383 - 1023, ulong.MaxValue));
            v.Add(new Float80(s, 16383 - 1074, J));
            v.Add(new Float80(s, 16383 - 1075, J));
            v.Add(new Float80(s, 16383 - 1075, J | 1));
            v.Add(new Float80(s, 0x7FFF, J));                     // infinity
            v.Add(new Float80(s, 0x7FFF, J | 0x4000_0000_0000_0000)); // QNaN
            v.Add(new Float80(s, 0x7FFF, J | 0x4000_0000_0000_1234));
            v.Add(new Float80(s, 0x7FFF, J | 0x0000_0000_0000_0001)); // SNaN
            v.Add(new Float80(s, 0x7FFF, J | 0x3FFF_FFFF_FFFF_FFFF));
            v.Add(new Float80(s, 0x7FFF, 0));                     // pseudo-infinity
            v.Add(new Float80(s, 0x7FFF, 0x4000_0000_0000_0000)); // pseudo-NaN
            v.Add(new Float80(s, 16383, 0x4000_0000_0000_0000));  // unnormal
            v.Add(new Float80(s, 1, 0));                          // unnormal with zero significand
        }
        return [.. v];
    }

    public ulong NextSignificand()
    {
        ulong m = (ulong)_rng.NextInt64() ^ ((ulong)_rng.Next() << 40);
        switch (_rng.Next(8))
        {
            case 0: m &= ~((1UL << _rng.Next(64)) - 1); break;   // trailing zeros: exact results, ties
            case 1: m |= (1UL << _rng.Next(64)) - 1; break;      // trailing ones: carries
            case 2: m = (m & 0xFFFF_FF00_0000_0000) | (_rng.Next(2) == 0 ? 0x80_0000_0000UL : 0x7F_FFFF_FFFFUL); break; // PC24 ties
            case 3: m = (m & 0xFFFF_FFFF_FFFF_F800) | (_rng.Next(2) == 0 ? 0x400UL : 0x3FFUL); break;            // PC53 ties
        }
        return m | 0x8000_0000_0000_0000;
    }

    /// <summary>A finite normal with exponent in [16383-range, 16383+range] (unbiased ±range).</summary>
    public Float80 Normal(int range) =>
        new(_rng.Next(2) == 0, Math.Clamp(16383 + _rng.Next(-range, range + 1), 1, 0x7FFE), NextSignificand());

    public Float80 Next()
    {
        int k = _rng.Next(16);
        if (k == 0)
            return Edges[_rng.Next(Edges.Length)];
        if (k == 1)
            return new Float80(_rng.Next(2) == 0, _rng.Next(0x8000), (ulong)_rng.NextInt64() | (_rng.Next(2) == 0 ? 0x8000_0000_0000_0000 : 0));
        if (k == 2)
            return new Float80(_rng.Next(2) == 0, 0, NextSignificand() >> _rng.Next(64));   // denormals
        if (k == 3)
            return new Float80(_rng.Next(2) == 0, _rng.Next(1, 0x7FFF), NextSignificand());   // full exponent range
        return Normal(k < 8 ? 70 : 20000);
    }

    /// <summary>A second operand correlated with the first so results hit cancellation, ties and range limits.</summary>
    public Float80 Partner(Float80 a)
    {
        int k = _rng.Next(10);
        if (k < 3 || !a.IsFiniteNonZeroForTests())
            return Next();
        int e = a.BiasedExponent == 0 ? 1 : a.BiasedExponent;
        bool s = _rng.Next(2) == 0;
        switch (k)
        {
            case 3: return new Float80(s, Math.Clamp(e + _rng.Next(-66, 67), 0, 0x7FFE), NextSignificand());
            case 4: return new Float80(s, e, a.Significand ^ (1UL << _rng.Next(64)));                      // near-equal
            case 5: return new Float80(s, Math.Clamp(32766 - e + _rng.Next(-3, 4), 1, 0x7FFE), NextSignificand()); // product near overflow
            case 6: return new Float80(s, Math.Clamp(_rng.Next(-3, 4) + 16383 - (e - 16383) - 16382, 0, 0x7FFE), NextSignificand()); // near underflow
            case 7: return new Float80(s, Math.Clamp(e - 16383 + _rng.Next(-4, 4), 0, 0x7FFE), NextSignificand()); // quotient near underflow
            default: return Normal(70);
        }
    }

    public int NextInt(int max) => _rng.Next(max);
    public long NextInt64() => _rng.NextInt64() * (_rng.Next(2) == 0 ? 1 : -1) >> _rng.Next(64);
}

internal static class Float80TestExtensions
{
    public static bool IsFiniteNonZeroForTests(this Float80 x) =>
        x.Class is Float80Class.Normal or Float80Class.Denormal or Float80Class.PseudoDenormal;
}
