using Hypervisor.Devices.Virtio.Rng;

namespace Hypervisor.Devices.Tests.Virtio;

public class VirtioRngTests
{
    [Fact]
    public void FillsWritableBuffersWithRandomBytes()
    {
        using var h = new VirtioPciHarness(memory => new VirtioRng(memory));
        var ring = h.Start()[0];
        ring.AddChain(0, (0x20_0000, 64, true), (0x20_1000, 64, true));
        ring.AddChain(2, (0x20_2000, 128, true));
        h.Notify(0);
        Assert.Equal([(0u, 128u), (2u, 128u)], ring.TakeUsed());
        var first = h.Memory.GetReadOnlySpan(0x20_0000, 64).ToArray();
        var second = h.Memory.GetReadOnlySpan(0x20_1000, 64).ToArray();
        var third = h.Memory.GetReadOnlySpan(0x20_2000, 128).ToArray();
        // 64 random bytes are all zero, or equal to another 64, with probability 2^-512.
        Assert.Contains(first, b => b != 0);
        Assert.NotEqual(first, second);
        Assert.NotEqual(first, third[..64]);
    }

    [Fact]
    public void HugeBuffersGetABoundedAmount()
    {
        using var h = new VirtioPciHarness(memory => new VirtioRng(memory));
        var ring = h.Start()[0];
        ring.AddChain(0, (0x20_0000, 8 << 20, true));
        h.Notify(0);
        Assert.Equal((0u, (uint)VirtioRng.MaxBytesPerRequest), Assert.Single(ring.TakeUsed()));
    }
}
