using Hypervisor.Kvm.Native;

namespace Hypervisor.Kvm.Tests;

public sealed unsafe class FxSaveLayoutTests
{
    [Fact]
    public void KvmFpuRoundTripsThroughTheFxSaveImage()
    {
        var fx = new byte[512];
        new Random(12).NextBytes(fx);
        // Bytes KVM's struct has no room for: the reserved byte after FTW, MXCSR_MASK and the reserved tail.
        fx[5] = 0;
        fx.AsSpan(28, 4).Clear();
        fx.AsSpan(416).Clear();
        for (int st = 0; st < 8; st++) fx.AsSpan(32 + st * 16 + 10, 6).Clear();

        var fpu = FxSaveLayout.ToKvmFpu(fx);
        Assert.Equal(BitConverter.ToUInt16(fx, 0), fpu.fcw);
        Assert.Equal(BitConverter.ToUInt32(fx, 24), fpu.mxcsr);
        Assert.Equal(BitConverter.ToUInt64(fx, 8), fpu.last_ip);
        Assert.Equal(fx[160], fpu.xmm[0]);
        var back = new byte[512];
        FxSaveLayout.FromKvmFpu(fpu, back);
        for (int st = 0; st < 8; st++) back.AsSpan(32 + st * 16 + 10, 6).Clear();
        Assert.Equal(fx, back);
    }
}
