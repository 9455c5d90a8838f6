namespace Hypervisor.Kvm.Tests;

public sealed class KvmCpuidTests
{
    [Fact]
    public void Leaf1CarriesTheApicIdAndTheHypervisorBit()
    {
        var host = new CpuidEntry(1, 0, 0, 0x000A0F10, 0x0E_10_08_00, 0x0000_0001, 0x1000_0000);
        var e = KvmCpuid.Filter(host, apicId: 3, tscDeadline: true);
        Assert.Equal(3u, e.Ebx >> 24);
        Assert.Equal(1u, (e.Ebx >> 16) & 0xFF);
        Assert.Equal(0x0800u, e.Ebx & 0xFFFF);
        Assert.NotEqual(0u, e.Ecx & (1u << 31));
        Assert.NotEqual(0u, e.Ecx & (1u << 24));
        Assert.Equal(0u, e.Edx & (1u << 28));
        Assert.Equal(host.Eax, e.Eax);
    }

    [Fact]
    public void TscDeadlineIsHiddenWithoutTheCapability()
    {
        var host = new CpuidEntry(1, 0, 0, 0, 0, 1u << 24, 0);
        Assert.Equal(0u, KvmCpuid.Filter(host, 0, tscDeadline: false).Ecx & (1u << 24));
    }

    [Fact]
    public void ExtendedTopologyGivesEachVcpuItsX2ApicId()
    {
        var smt = KvmCpuid.Filter(new CpuidEntry(0xB, 0, 1, 1, 2, 0x100, 7), apicId: 5, tscDeadline: false);
        var core = KvmCpuid.Filter(new CpuidEntry(0xB, 1, 1, 4, 16, 0x201, 7), apicId: 5, tscDeadline: false);
        Assert.Equal((0u, 1u, 0x100u, 5u), (smt.Eax, smt.Ebx, smt.Ecx, smt.Edx));
        Assert.Equal((0u, 1u, 0x201u, 5u), (core.Eax, core.Ebx, core.Ecx, core.Edx));
    }

    [Fact]
    public void ParavirtualLeavesKeepOnlyFeaturesHvSupports()
    {
        var sig = KvmCpuid.Filter(new CpuidEntry(0x4000_0000, 0, 0, 0x4000_0001, 0, 0, 0), 0, false);
        Assert.Equal("KVMKVMKVM\0\0\0", System.Text.Encoding.ASCII.GetString(
            [.. BitConverter.GetBytes(sig.Ebx), .. BitConverter.GetBytes(sig.Ecx), .. BitConverter.GetBytes(sig.Edx)]));
        // Everything KVM 6.1 offers: bits 0-17 and 24.
        var features = KvmCpuid.Filter(new CpuidEntry(0x4000_0001, 0, 0, 0x0103_FFFF, 0, 0, 1), 0, false);
        Assert.Equal(KvmCpuid.AllowedPvFeatures, features.Eax);
        Assert.NotEqual(0u, features.Eax & (1u << 3));   // CLOCKSOURCE2 (kvmclock)
        Assert.NotEqual(0u, features.Eax & (1u << 6));   // PV_EOI
        Assert.NotEqual(0u, features.Eax & (1u << 5));   // STEAL_TIME
        Assert.Equal(0u, features.Eax & (1u << 15));     // MSI_EXT_DEST_ID
        Assert.Equal(0u, features.Edx);
    }

    [Fact]
    public void LeavesHvDoesNotTouchPassThrough()
    {
        var e = new CpuidEntry(7, 0, 1, 0, 0x219C07AB, 0x0040_0004, 0);
        Assert.Equal(e, KvmCpuid.Filter(e, 2, true));
    }
}
