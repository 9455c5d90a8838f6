using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Tests.X87;

/// <summary>
/// FBLD/FBSTP conversions (Intel SDM Vol. 1 §4.7 and Vol. 2A FBSTP); the differential harness runs both
/// instructions against the host, these pin the SDM's edge cases.
/// </summary>
public class Float80BcdTests
{
    private static readonly X87Control Nearest = X87Control.Default;

    [Fact]
    public void LoadsEighteenDigitsAndTheSign()
    {
        var v = Float80.FromPackedBcd(0x9999_9999_9999_9999, 0x8099);
        Assert.Equal(Float80.FromInt64(-999_999_999_999_999_999), v);
        Assert.Equal(Float80.FromInt64(1234), Float80.FromPackedBcd(0x1234, 0x7F00));   // bits 14:8 of byte 9 ignored
    }

    [Fact]
    public void NegativeZeroKeepsItsSignBothWays()
    {
        Assert.Equal(Float80.NegativeZero, Float80.FromPackedBcd(0, 0x8000));
        var st = X87Status.None;
        Float80.ToPackedBcd(Float80.NegativeZero, Nearest, ref st, out ulong low, out ushort high);
        Assert.Equal((0UL, (ushort)0x8000), (low, high));
        Assert.Equal(X87Status.None, st);
    }

    [Fact]
    public void StoreRoundsUnderRcAndReportsC1AndPe()
    {
        var st = X87Status.None;
        var x = Float80.Divide(Float80.FromInt64(-25), Float80.FromInt64(10), Nearest, ref st);  // -2.5, exact
        st = X87Status.None;
        Float80.ToPackedBcd(x, Nearest, ref st, out ulong low, out ushort high);
        Assert.Equal((2UL, (ushort)0x8000), (low, high));   // ties to even, sign kept
        Assert.Equal(X87Status.Precision, st);
        st = X87Status.None;
        Float80.ToPackedBcd(x, Nearest.WithRounding(X87Rounding.Down), ref st, out low, out _);
        Assert.Equal(3UL, low);                             // toward -inf: magnitude rounds up
        Assert.Equal(X87Status.Precision | X87Status.C1, st);
    }

    [Theory]
    [InlineData(1_000_000_000_000_000_000L)]
    [InlineData(long.MinValue)]
    public void OutOfRangeStoresTheIndefinite(long value)
    {
        var st = X87Status.None;
        Float80.ToPackedBcd(Float80.FromInt64(value), Nearest, ref st, out ulong low, out ushort high);
        Assert.Equal((Float80.BcdIndefiniteLow, Float80.BcdIndefiniteHigh), (low, high));
        Assert.Equal(X87Status.Invalid, st);
    }

    [Fact]
    public void NanAndInfinityAreInvalid()
    {
        foreach (var v in new[] { Float80.Indefinite, Float80.PositiveInfinity, new Float80(0x1234, 0x7FFF) })
        {
            var st = X87Status.None;
            Float80.ToPackedBcd(v, Nearest, ref st, out ulong low, out ushort high);
            Assert.Equal((0xC000_0000_0000_0000UL, (ushort)0xFFFF), (low, high));
            Assert.Equal(X87Status.Invalid, st);
        }
    }

    [Fact]
    public void LargestValueRoundTrips()
    {
        var st = X87Status.None;
        Float80.ToPackedBcd(Float80.FromInt64(999_999_999_999_999_999), Nearest, ref st, out ulong low, out ushort high);
        Assert.Equal((0x9999_9999_9999_9999UL, (ushort)0x0099), (low, high));
        Assert.Equal(X87Status.None, st);
    }
}
