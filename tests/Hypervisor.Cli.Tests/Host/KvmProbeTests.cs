using Hypervisor.Cli.Host;

namespace Hypervisor.Cli.Tests.Host;

public class KvmProbeTests
{
    [Fact]
    public void A_missing_device_is_not_usable_and_says_so()
    {
        KvmStatus status = KvmProbe.Probe("/nonexistent/kvm");
        Assert.False(status.Usable);
        Assert.StartsWith("does not exist", status.Reason);
    }

    [Fact]
    public void A_device_that_is_not_kvm_is_not_usable()
    {
        // /dev/null opens read-write but rejects KVM_GET_API_VERSION.
        KvmStatus status = KvmProbe.Probe("/dev/null");
        Assert.False(status.Usable);
        Assert.Equal("is not a KVM device (KVM_GET_API_VERSION failed)", status.Reason);
    }

    [Fact]
    public void The_probe_agrees_with_the_device_on_this_host()
    {
        KvmStatus status = KvmProbe.Probe();
        if (!File.Exists(KvmProbe.DevicePath))
            Assert.False(status.Usable);
        else if (status.Usable)
            Assert.Equal("answers KVM API version 12", status.Reason);
    }
}
