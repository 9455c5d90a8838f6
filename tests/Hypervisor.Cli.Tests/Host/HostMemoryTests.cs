using Hypervisor.Cli.Host;

namespace Hypervisor.Cli.Tests.Host;

public class HostMemoryTests
{
    [Fact]
    public void Reads_MemTotal_in_KiB()
    {
        string[] meminfo = ["MemFree:         1000 kB", "MemTotal:       16314412 kB", "MemAvailable:  900 kB"];
        Assert.Equal(16314412UL * 1024, HostMemory.ParseTotal(meminfo));
    }

    [Theory]
    [InlineData("MemTotal: lots kB")]
    [InlineData("MemTotal: 1000 MB")]
    [InlineData("MemTotal:")]
    [InlineData("SwapTotal: 1000 kB")]
    public void Unreadable_totals_are_null(string line)
    {
        Assert.Null(HostMemory.ParseTotal([line]));
    }

    [Fact]
    public void This_host_has_a_MemTotal()
    {
        ulong? total = HostMemory.ReadTotal();
        Assert.NotNull(total);
        Assert.True(total > 64UL << 20);
    }

    [Fact]
    public void A_missing_meminfo_is_null()
    {
        Assert.Null(HostMemory.ReadTotal("/nonexistent/meminfo"));
    }
}
