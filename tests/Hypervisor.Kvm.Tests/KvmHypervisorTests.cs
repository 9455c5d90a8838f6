using Hypervisor.Platform.Hypervisor;

namespace Hypervisor.Kvm.Tests;

public sealed class KvmHypervisorTests
{
    [Fact]
    public void MissingDeviceIsReportedWithTheAlternative()
    {
        var e = Assert.Throws<AccelerationUnavailableException>(() => KvmHypervisor.Open("/nonexistent/kvm"));
        Assert.Contains("/nonexistent/kvm does not exist", e.Message);
        Assert.Contains("--accel bt", e.Message);
    }

    [Fact]
    public void ProbeOfMissingDeviceSaysWhy()
    {
        var probe = KvmHypervisor.Probe("/nonexistent/kvm");
        Assert.False(probe.Usable);
        Assert.Contains("does not exist", probe.Reason);
    }

    [Fact]
    public void ADeviceThatIsNotKvmIsRejected()
    {
        // /dev/null opens but answers KVM_GET_API_VERSION with ENOTTY.
        var probe = KvmHypervisor.Probe("/dev/null");
        Assert.False(probe.Usable);
        Assert.Contains("KVM_GET_API_VERSION", probe.Reason);
    }

    [Fact]
    public void ProbeAgreesWithOpenOnThisHost()
    {
        var probe = KvmHypervisor.Probe();
        if (probe.Usable)
        {
            using var kvm = KvmHypervisor.Open();
            Assert.Equal("kvm", kvm.Name);
            Assert.True(kvm.HasInKernelIrqChip);
        }
        else
        {
            var e = Assert.Throws<AccelerationUnavailableException>(() => KvmHypervisor.Open());
            Assert.Equal(probe.Reason, e.Message);
        }
    }
}
