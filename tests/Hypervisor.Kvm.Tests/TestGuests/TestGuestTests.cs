using System.Diagnostics;
using Hypervisor.Tests.Shared;

namespace Hypervisor.Kvm.Tests.TestGuests;

/// <summary>
/// The multiboot test guests the nested harness runs under KVM, checked first against QEMU (TESTING.md
/// section 2), so a failure in L1 points at hv and not at the guest.
/// </summary>
public sealed class TestGuestTests
{

    [Fact]
    public void HelloExitsWith67UnderQemu()
    {
        var (status, serial) = RunQemu("hello");
        Assert.Contains("hv-testguest: hello from multiboot", serial);
        Assert.Contains("hv-testguest: checksum 6619d800", serial);
        Assert.Equal((0x21 << 1) | 1, status);
    }

    [Fact]
    public void TripleFaultGuestResetsQemu()
    {
        // With -no-reboot QEMU turns the triple fault's reset into a clean exit (status 0), before 0xF4 is written.
        var (status, serial) = RunQemu("triplefault");
        Assert.Contains("hv-testguest: triple fault next", serial);
        Assert.Equal(0, status);
    }

    private static (int Status, string Serial) RunQemu(string guest)
    {
        var psi = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
        };
        foreach (var a in new[] { "-accel", "tcg", "-m", "64", "-display", "none", "-serial", "stdio", "-monitor", "none",
                     "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                     "-kernel", TestGuestBuild.PathOf(guest) })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string serial = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(60_000))
        {
            p.Kill();
            throw new TimeoutException($"qemu did not finish {guest} within 60 s; serial: {serial}");
        }
        return (p.ExitCode, serial + stderr.Result);
    }
}
