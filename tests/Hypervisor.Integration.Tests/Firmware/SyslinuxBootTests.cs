using System.Text.RegularExpressions;
using Hypervisor.Integration.Tests.Support;

namespace Hypervisor.Integration.Tests.Firmware;

/// <summary>
/// The BIOS boot path end to end, as an installer disk boots (TESTING.md section 3, syslinux): unmodified SeaBIOS
/// on hv's BT backend boots SYSLINUX from a partitioned virtio disk, SYSLINUX loads the default Linux guest
/// (images/out) through INT 13h, Linux finds hv's ACPI tables through the BIOS (etc/table-loader), runs a test
/// and powers off through ACPI S5, and hv exits 0.
/// </summary>
public sealed class SyslinuxBootTests
{
    [Fact]
    public void SeaBiosBootsSyslinuxWhichBootsLinuxToPowerOff()
    {
        string images = Path.Combine(Repository.Root, "images", "out");
        string dir = Directory.CreateTempSubdirectory("hv-syslinux-").FullName;
        try
        {
            string disk = Path.Combine(dir, "syslinux.img");
            var build = ProcessRun.Run("bash",
            [
                Path.Combine(Repository.Root, "guest-drivers", "testguest", "build-syslinux-disk.sh"), disk,
                Path.Combine(images, "vmlinuz"), Path.Combine(images, "initramfs.cpio.gz"),
                "console=ttyS0", "panic=-1", "hv.test=checksum",
            ], TimeSpan.FromMinutes(2));
            Assert.True(build.ExitCode == 0, "build-syslinux-disk.sh (needs syslinux, mtools, dosfstools): " + build);

            var hv = ProcessRun.Run(Path.Combine(Repository.Root, "hv"),
            [
                "run", "--accel", "bt", "--memory", "512M", "--bios", SeaBiosBootTests.SeaBios, "--serial", "stdio",
                "--no-reboot", "--disk", $"{disk},readonly",
            ], TimeSpan.FromMinutes(10));
            // SYSLINUX prints through INT 10h and SeaBIOS's serial console, whose lazy cursor sync may put cursor
            // positioning (CSI ... H, to where the cursor already is) into a line when a timer tick flushes it: compare
            // the text a terminal shows, not the control sequences around it.
            string serial = Regex.Replace(hv.Stdout.Replace("\r", ""), @"\x1b\[[0-9;?]*[A-Za-z]", "");
            Assert.Contains("SeaBIOS (version", serial);
            Assert.Contains("SYSLINUX 6.04", serial);
            Assert.Contains("syslinux: booting Linux from the hv BIOS test disk", serial);
            Assert.Contains("Linux version", serial);
            Assert.Matches(@"ACPI: RSDP 0x00000000000F[0-9A-F]{4} 000024 \(v02 HVHVHV\)", serial);
            Assert.Contains("hv-test: checksum exit 0", serial);
            Assert.True(hv.ExitCode == 0, hv.ToString());
            Assert.Contains("ACPI S5", hv.Stderr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
