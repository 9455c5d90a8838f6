using System.Buffers.Binary;
using System.Text;
using Hypervisor.Devices.Console;
using Hypervisor.Tests.Shared;

namespace Hypervisor.Machine.Tests;

/// <summary>
/// Whole machines on the BT backend: the multiboot test guests (guest-drivers/testguest) end as they do under
/// QEMU and KVM, and a guest that is nothing but garbage ends with a message, never a .NET crash.
/// </summary>
public sealed class BtTestGuestTests
{

    [Fact]
    public void HelloExitsWith67ThroughIsaDebugExit()
    {
        var (status, serial, diagnostics) = Run(TestGuestBuild.PathOf("hello"));
        Assert.Contains("hv-testguest: hello from multiboot", serial);
        Assert.Contains("hv-testguest: checksum 6619d800", serial);
        Assert.True(status == 67, $"status {status}; diagnostics: {diagnostics}");
    }

    [Fact]
    public void TripleFaultEndsTheVmWithStatus1AndSaysSo()
    {
        var (status, serial, diagnostics) = Run(TestGuestBuild.PathOf("triplefault"), noReboot: true);
        Assert.Contains("hv-testguest: triple fault next", serial);
        Assert.Equal(1, status);
        Assert.Contains("triple fault", diagnostics);
        Assert.Contains("RIP=", diagnostics);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void GarbageAtTheKernelEntryEndsWithAMessageAndAFailureStatus(int seed)
    {
        string kernel = Path.Combine(Path.GetTempPath(), $"hv-garbage-{seed}-{Environment.ProcessId}.bin");
        File.WriteAllBytes(kernel, GarbageMultiboot(seed));
        try
        {
            var (status, _, diagnostics) = Run(kernel, noReboot: true);
            Assert.NotEqual(0, status);
            Assert.StartsWith("hv: ", diagnostics.Trim());
            Assert.DoesNotContain("   at ", diagnostics); // no .NET stack trace: the guest, not hv, failed
        }
        finally
        {
            File.Delete(kernel);
        }
    }

    /// <summary>A multiboot image (a.out kludge) loaded at 1 MiB whose entry is 4 KiB of seeded random bytes.</summary>
    private static byte[] GarbageMultiboot(int seed)
    {
        const uint flags = 1 << 16;
        var image = new byte[32 + 4096];
        var h = image.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0x1BAD_B002);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], flags);
        BinaryPrimitives.WriteUInt32LittleEndian(h[8..], unchecked(0u - 0x1BAD_B002 - flags));
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0x10_0000); // header_addr
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], 0x10_0000); // load_addr
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 0); // load_end_addr: the whole file
        BinaryPrimitives.WriteUInt32LittleEndian(h[24..], 0); // bss_end_addr: none
        BinaryPrimitives.WriteUInt32LittleEndian(h[28..], 0x10_0020); // entry: the first random byte
        new Random(seed).NextBytes(image.AsSpan(32));
        return image;
    }

    private static (int Status, string Serial, string Diagnostics) Run(string kernel, bool noReboot = false)
    {
        var serial = new InMemoryCharacterBackend();
        var diagnostics = new StringWriter();
        var config = new MachineConfig
        {
            Kernel = kernel,
            Accelerator = Accelerator.Bt,
            MemoryBytes = 64UL << 20,
            NoReboot = noReboot,
        };
        int status = -1;
        var thread = new Thread(() => status = VirtualMachine.Run(config, serial, diagnostics)) { IsBackground = true };
        thread.Start();
        if (!thread.Join(TimeSpan.FromSeconds(60)))
            throw new TimeoutException($"{Path.GetFileName(kernel)} did not finish within 60 s; serial: {Encoding.ASCII.GetString(serial.Output)}");
        return (status, Encoding.ASCII.GetString(serial.Output), diagnostics.ToString());
    }
}
