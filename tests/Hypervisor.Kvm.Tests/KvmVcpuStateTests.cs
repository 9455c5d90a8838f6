using Hypervisor.Platform.Cpu;

namespace Hypervisor.Kvm.Tests;

public sealed class KvmVcpuStateTests
{
    [Fact]
    public void AHandBuiltStateCarriesNoLapicState()
    {
        Assert.False(KvmVcpu.HasLapicState(CpuState.CreateReset()));
    }

    [Fact]
    public void ACapturedLapicPageIsApplied()
    {
        var s = new CpuState();
        BitConverter.GetBytes(0x0005_0014u).CopyTo(s.LapicRegisters, 0x30);  // KVM's LAPIC version register
        Assert.True(KvmVcpu.HasLapicState(s));
    }
}
