using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Tests.X87;

/// <summary>Encoding-level facts from SDM Vol. 1 §4.2.2 Table 4-3 and §8.2.2-8.2.3 that the oracle cannot show directly.</summary>
public class Float80EncodingTests
{
    [Theory]
    [InlineData((ushort)0x0000, 0x0000000000000000UL, Float80Class.Zero)]
    [InlineData((ushort)0x8000, 0x0000000000000001UL, Float80Class.Denormal)]
    [InlineData((ushort)0x0000, 0x8000000000000000UL, Float80Class.PseudoDenormal)]
    [InlineData((ushort)0x3FFF, 0x8000000000000000UL, Float80Class.Normal)]
    [InlineData((ushort)0x3FFF, 0x7FFFFFFFFFFFFFFFUL, Float80Class.Unsupported)]   // unnormal
    [InlineData((ushort)0x7FFF, 0x8000000000000000UL, Float80Class.Infinity)]
    [InlineData((ushort)0x7FFF, 0x0000000000000000UL, Float80Class.Unsupported)]   // pseudo-infinity
    [InlineData((ushort)0x7FFF, 0x4000000000000000UL, Float80Class.Unsupported)]   // pseudo-NaN
    [InlineData((ushort)0xFFFF, 0xC000000000000000UL, Float80Class.QuietNaN)]
    [InlineData((ushort)0x7FFF, 0x8000000000000001UL, Float80Class.SignalingNaN)]
    public void Classifies(ushort signExponent, ulong significand, Float80Class expected) =>
        Assert.Equal(expected, new Float80(significand, signExponent).Class);

    [Fact]
    public void TenByteLittleEndianRoundTrip()
    {
        var x = new Float80(0x0123456789ABCDEF, 0xC00D);
        byte[] bytes = x.ToBytes();
        Assert.Equal(new byte[] { 0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01, 0x0D, 0xC0 }, bytes);
        Assert.Equal(x, Float80.FromBytes(bytes));
    }

    [Fact]
    public void IndefiniteIsNegativeQuietNaNWithOnlyTheQuietBit()
    {
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF }, Float80.Indefinite.ToBytes());
        var st = X87Status.None;
        Float80 tenth = Float80.Divide(Float80.One, Float80.FromInt64(10), X87Control.Default, ref st);
        Assert.Equal(X87Status.Precision, st & X87Status.ExceptionMask);
        Assert.Equal(0.1, tenth.ToDouble());
    }

    [Fact]
    public void ControlWordFieldsAndStoreSuppression()
    {
        var cw = X87Control.Default.WithRounding(X87Rounding.Up).WithPrecision(X87Precision.Double).WithMasks(X87Status.ExceptionMask & ~X87Status.Overflow);
        Assert.Equal(X87Rounding.Up, cw.Rounding);
        Assert.Equal(X87Precision.Double, cw.Precision);
        Assert.True(cw.SuppressesStore(X87Status.Overflow | X87Status.Precision, memoryDestination: true));
        Assert.False(cw.SuppressesStore(X87Status.Overflow | X87Status.Precision, memoryDestination: false));
        Assert.False(cw.SuppressesStore(X87Status.Invalid, memoryDestination: false));
    }
}
