using Hypervisor.Integration.Tests.Guests;
using Hypervisor.Integration.Tests.Support;

namespace Hypervisor.Integration.Tests.Firmware;

/// <summary>
/// Unmodified SeaBIOS (Debian's bios.bin) on hv's BT backend, booting the MBR test guest from a virtio disk
/// (guest-drivers/testguest/mbr.asm). QEMU TCG running the same bios.bin, disk and fw_cfg console setting is the
/// oracle: SeaBIOS's console output and the guest's checks must come out byte for byte the same.
/// </summary>
public sealed class SeaBiosBootTests
{
    public const string SeaBios = "/usr/share/seabios/bios.bin";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(180);
    private static readonly Lazy<string> Disks = new(BuildDisks);

    private static string MbrDisk => Path.Combine(Disks.Value, "mbr.img");
    private static string PamBios => Path.Combine(Disks.Value, "pam.bin");
    private static string EmptyDisk => Path.Combine(Disks.Value, "empty.img");
    private static string SerconPortFile => Path.Combine(Disks.Value, "sercon-port.bin");

    [Fact]
    public void MbrGuestBootsUnderHvBtAsUnderQemuTcg()
    {
        var qemu = QemuMbr();
        var hv = HvBt(MbrDisk);

        Assert.True(qemu.ExitCode == GuestOracleTests.StatusPassed, "QEMU: " + qemu);
        string expected = GuestRunner.SerialLines(qemu);
        Assert.Contains("SeaBIOS (version", expected);
        Assert.Contains("hv-mbr: all checks passe", expected);
        Assert.True(hv.ExitCode == GuestOracleTests.StatusPassed, "hv: " + hv);
        Assert.Equal(UpToVerdict(expected), UpToVerdict(GuestRunner.SerialLines(hv)));
    }

    /// <summary>
    /// Two CPUs: SeaBIOS's smp_scan wakes the AP with INIT/SIPI and waits for it in a PAUSE loop that releases
    /// and retakes a shared lock two instructions apart, so on the BT backend the AP runs only because PAUSE
    /// hands it the execution lock. Both firmware logs must count the two CPUs; the console must be QEMU's.
    /// </summary>
    [Fact]
    public void MbrGuestBootsWithTwoCpusUnderHvBtAsUnderQemuTcgSmp2()
    {
        string qemuLog = Path.Combine(Disks.Value, $"debugcon-qemu-{Guid.NewGuid():N}.log");
        string hvLog = Path.Combine(Disks.Value, $"debugcon-hv-{Guid.NewGuid():N}.log");
        var qemu = QemuMbr("-smp", "2", "-chardev", $"file,id=seabios,path={qemuLog}",
            "-device", "isa-debugcon,iobase=0x402,chardev=seabios");
        var hv = HvBt(MbrDisk, "--cpus", "2", "--debugcon", hvLog);

        Assert.True(qemu.ExitCode == GuestOracleTests.StatusPassed, "QEMU: " + qemu);
        const string found = "Found 2 cpu(s) max supported 2 cpu(s)";
        Assert.Contains(found, File.ReadAllText(qemuLog));
        string expected = GuestRunner.SerialLines(qemu);
        Assert.Contains("hv-mbr: all checks passe", expected);
        Assert.True(hv.ExitCode == GuestOracleTests.StatusPassed, "hv: " + hv);
        Assert.Contains(found, File.ReadAllText(hvLog));
        Assert.Equal(UpToVerdict(expected), UpToVerdict(GuestRunner.SerialLines(hv)));
    }

    /// <summary>
    /// The console up to the guest's verdict. SeaBIOS's serial console holds back the last characters it was
    /// given (sercon's lazy output) until its next idle pass, so whether "passed" is complete when the guest
    /// leaves through isa-debug-exit depends on timing, under QEMU (which usually cuts it) and hv alike.
    /// </summary>
    private static string UpToVerdict(string serial)
    {
        const string verdict = "hv-mbr: all checks passe";
        int at = serial.IndexOf(verdict, StringComparison.Ordinal);
        return at < 0 ? serial : serial[..(at + verdict.Length)];
    }

    [Fact]
    public void NoBootableDeviceSaysSoAndResetsTheMachine()
    {
        var hv = HvBt(EmptyDisk);
        string serial = GuestRunner.SerialLines(hv);
        Assert.Contains("Boot failed: not a bootable disk", serial);
        Assert.Contains("No bootable device.  Retrying in 5 seconds.", serial);
        // SeaBIOS resets through the PIIX3 reset control register; --no-reboot turns that into a clean exit.
        Assert.Contains("hard reset", hv.Stderr);
        Assert.True(hv.ExitCode == 0, hv.ToString());
    }

    [Fact]
    public void FirmwareLogGoesToTheDebugConsole()
    {
        string log = Path.Combine(Disks.Value, $"debugcon-{Guid.NewGuid():N}.log");
        var hv = HvBt(MbrDisk, "--debugcon", log);
        Assert.True(hv.ExitCode == GuestOracleTests.StatusPassed, hv.ToString());
        string text = File.ReadAllText(log);
        Assert.Contains("Running on QEMU (i440fx)", text);
        Assert.Contains("Found QEMU fw_cfg", text);
        Assert.Contains("QEMU fw_cfg DMA interface supported", text);
        Assert.Contains("qemu/e820: addr 0x0000000000000000 len 0x0000000008000000 [RAM]", text);
        Assert.Contains("found virtio-blk at", text);
        Assert.Contains("sercon: using ioport 0x3f8", text);
    }

    /// <summary>
    /// The reset state and the i440FX PAM0 shadowing of 0xF0000-0xFFFFF, checked by a BIOS image of its own
    /// (pam.asm) from the reset vector on; QEMU's i440FX is the second opinion.
    /// </summary>
    [Fact]
    public void ResetStateAndShadowRamMatchQemu()
    {
        var qemu = ProcessRun.Run("qemu-system-x86_64",
        [
            "-nodefaults", "-accel", "tcg", "-m", "128", "-bios", PamBios, "-display", "none", "-serial", "stdio",
            "-monitor", "none", "-no-reboot", "-net", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ], Timeout);
        var hv = RunHv(PamBios, EmptyDisk);
        Assert.True(qemu.ExitCode == GuestOracleTests.StatusPassed, "QEMU: " + qemu);
        Assert.Contains("pam: all checks passed", GuestRunner.SerialLines(qemu));
        Assert.True(hv.ExitCode == GuestOracleTests.StatusPassed, "hv: " + hv);
        Assert.Equal(GuestRunner.SerialLines(qemu), GuestRunner.SerialLines(hv));
    }

    private static ProcessResult QemuMbr(params string[] extra) =>
        ProcessRun.Run("qemu-system-x86_64",
        [
            "-nodefaults", "-accel", "tcg", "-m", "128", "-bios", SeaBios, "-display", "none", "-serial", "stdio",
            "-monitor", "none", "-no-reboot", "-net", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-drive", $"file={MbrDisk},if=virtio,format=raw,readonly=on",
            // What hv gives SeaBIOS when there is no VGA (QEMU does the same for -nographic).
            "-fw_cfg", $"name=etc/sercon-port,file={SerconPortFile}", .. extra,
        ], Timeout);

    private static ProcessResult HvBt(string disk, params string[] extra) => RunHv(SeaBios, disk, extra);

    private static ProcessResult RunHv(string bios, string disk, params string[] extra) =>
        ProcessRun.Run(Path.Combine(Repository.Root, "hv"),
        [
            "run", "--accel", "bt", "--memory", "128M", "--bios", bios, "--serial", "stdio", "--no-reboot",
            "--disk", $"{disk},readonly", .. extra,
        ], Timeout);

    private static string BuildDisks()
    {
        if (!File.Exists(SeaBios))
            throw new InvalidOperationException($"{SeaBios} is missing: install Debian's seabios package (.ci/run does)");
        string dir = Directory.CreateTempSubdirectory("hv-seabios-").FullName;
        var result = ProcessRun.Run("bash",
            [Path.Combine(Repository.Root, "guest-drivers", "testguest", "build-bios-guests.sh"), dir],
            TimeSpan.FromMinutes(1));
        if (result.ExitCode != 0) throw new InvalidOperationException($"build-bios-guests.sh failed (needs nasm, python3): {result}");
        using (var empty = File.Create(Path.Combine(dir, "empty.img"))) empty.SetLength(1 << 20);
        File.WriteAllBytes(Path.Combine(dir, "sercon-port.bin"), [0xF8, 0x03]);
        return dir;
    }
}
