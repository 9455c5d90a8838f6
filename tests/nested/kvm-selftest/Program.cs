using System.Diagnostics;
using Hypervisor.Kvm;
using Hypervisor.Kvm.SelfTest;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Hypervisor;

// The KVM backend's acceptance tests, run inside the nested-KVM L1 guest by tests/nested/run.sh. Each test
// prints one "NESTED-RESULT <name> PASS|FAIL <detail>" line; the exit status is the number of failures.
string guests = args.Length > 0 ? args[0] : Path.Combine(AppContext.BaseDirectory, "guests");
var only = args.Skip(1).ToHashSet();
int failures = 0;
var timeout = TimeSpan.FromSeconds(60);

void Test(string name, Func<string> body)
{
    if (only.Count > 0 && !only.Contains(name)) return;
    var sw = Stopwatch.StartNew();
    string result;
    try
    {
        result = "PASS " + body();
    }
    catch (Exception e)
    {
        failures++;
        result = "FAIL " + e.Message.ReplaceLineEndings(" | ");
    }
    Console.WriteLine($"NESTED-RESULT {name} {result} ({sw.ElapsedMilliseconds} ms)");
}

void Check(bool condition, string message)
{
    if (!condition) throw new Exception(message);
}

var probe = KvmHypervisor.Probe();
Test("kvm-probe", () =>
{
    Check(probe.Usable, probe.Reason);
    return probe.Reason;
});
if (!probe.Usable) return failures;
using var kvm = KvmHypervisor.Open();

Test("multiboot-hello", () =>
{
    using var m = new TestMachine(kvm, 1);
    m.EnterProtectedMode(m.LoadElf32(File.ReadAllBytes(Path.Combine(guests, "hello.elf"))));
    var exit = m.Run(timeout)[0];
    Console.Write(m.Serial);
    Check(m.DebugExitCode == 0x21,
        $"isa-debug-exit got {m.DebugExitCode?.ToString("x") ?? "nothing"}, want 0x21 (exit {exit.Reason}: {exit.Message})");
    Check(exit.Reason == VcpuExitReason.Kicked, $"vCPU left Run with {exit.Reason}, want Kicked");
    Check(m.Serial.Contains("hello from multiboot") && m.Serial.Contains("checksum 6619d800"),
        $"serial output: '{m.Serial}'");
    return $"exit status {(m.DebugExitCode << 1) | 1}";
});

Test("triple-fault", () =>
{
    using var m = new TestMachine(kvm, 1);
    m.EnterProtectedMode(m.LoadElf32(File.ReadAllBytes(Path.Combine(guests, "triplefault.elf"))));
    var exit = m.Run(timeout)[0];
    Console.Write(m.Serial);
    Console.WriteLine(exit.Message);
    Check(exit.Reason == VcpuExitReason.Shutdown, $"want Shutdown, got {exit.Reason}: {exit.Message}");
    Check(exit.Message!.Contains("triple fault") && exit.Message.Contains("RIP=") && exit.Message.Contains("IDT="),
        "message lacks the reason or the register dump");
    Check(m.DebugExitCode == null, "the guest ran past the triple fault");
    return "Shutdown with register dump";
});

Test("kick", () =>
{
    using var m = new TestMachine(kvm, 1);
    m.Memory.Load(TestMachine.LoadAddress, File.ReadAllBytes(Path.Combine(guests, "spin.bin")));
    m.EnterProtectedMode((uint)TestMachine.LoadAddress);
    var vcpu = m.Vcpus[0];
    VcpuExit exit = default;
    var runner = new Thread(() => exit = vcpu.Run());
    var sw = Stopwatch.StartNew();
    runner.Start();
    Thread.Sleep(500);
    vcpu.Kick();
    Check(runner.Join(TimeSpan.FromSeconds(20)), "Run did not return within 20 s of Kick");
    Check(exit.Reason == VcpuExitReason.Kicked, $"want Kicked, got {exit.Reason}: {exit.Message}");
    var rip = vcpu.GetState().Rip;
    Check(rip is >= 0x100001 and <= 0x100002, $"RIP 0x{rip:x} is not in the spin loop");
    // A kick before Run must not be lost: the next Run returns at once.
    vcpu.Kick();
    var again = vcpu.Run();
    Check(again.Reason == VcpuExitReason.Kicked, $"pre-Run kick: got {again.Reason}");
    return $"kicked after {sw.ElapsedMilliseconds} ms, RIP 0x{rip:x}";
});

Test("state-roundtrip", () =>
{
    using var m = new TestMachine(kvm, 1);
    m.Memory.Load(TestMachine.LoadAddress, File.ReadAllBytes(Path.Combine(guests, "spin.bin")));
    m.EnterProtectedMode((uint)TestMachine.LoadAddress);
    var vcpu = m.Vcpus[0];
    var t = new Thread(() => vcpu.Run());
    t.Start();
    Thread.Sleep(200);
    vcpu.Kick();
    t.Join();
    var a = vcpu.GetState();
    a[Gpr.R13] = 0x1122_3344_5566_7788;
    a.FxSave[160] = 0x5A;                       // XMM0 byte 0
    a.Msrs[KvmMsrs.Lstar] = 0xFFFF_FFFF_8100_0000;
    vcpu.SetState(a);
    var b = vcpu.GetState();
    var diffs = StateDiff.Compare(a, b).ToList();
    Check(diffs.Count == 0, "after SetState/GetState: " + string.Join("; ", diffs));
    return $"{a.Msrs.Count} MSRs ({string.Join(",", a.Msrs.Keys.Select(k => k.ToString("x")))}), XSAVE {(a.XSave != null ? "yes" : "no")}";
});

Test("ioeventfd", () =>
{
    using var m = new TestMachine(kvm, 1);
    using var notify = m.Vm.CreateIoEventFd(0x600, 1, isPort: true);
    m.Memory.Load(TestMachine.LoadAddress, File.ReadAllBytes(Path.Combine(guests, "ioeventfd.bin")));
    m.EnterProtectedMode((uint)TestMachine.LoadAddress);
    m.Run(timeout);
    Check(m.DebugExitCode == 0x21, $"guest did not finish (debug exit {m.DebugExitCode})");
    Check(m.OtherPortWrites.Count == 0, $"port write reached userspace: {string.Join(",", m.OtherPortWrites)}");
    ulong count = notify.Event.Drain();
    Check(count == 1, $"eventfd counter {count}, want 1");
    return "guest write signalled the eventfd only";
});

Test("irq-routing", () =>
{
    using var m = new TestMachine(kvm, 1);
    int gsi = m.Vm.AddMsiRoute(0xFEE0_0000, 0x31);
    m.Vm.UpdateMsiRoute(gsi, 0xFEE0_0000, 0x32);
    using var irq = m.Vm.CreateIrqFd(gsi);
    using var level = m.Vm.CreateLevelIrqFd(10);
    irq.Trigger();
    m.Vm.Interrupts.SetIrq(4, true);
    m.Vm.Interrupts.SetIrq(4, false);
    m.Vm.Interrupts.SendMsi(0xFEE0_0000, 0x33);
    irq.Dispose();
    m.Vm.RemoveMsiRoute(gsi);
    return $"MSI route on GSI {gsi}, irqfds, KVM_IRQ_LINE and KVM_SIGNAL_MSI accepted";
});

Test("dirty-log", () =>
{
    using var m = new TestMachine(kvm, 1);
    m.Vm.SetDirtyLogging(true);
    var ram = m.Memory.Regions[0];
    m.Vm.GetDirtyLog(ram);
    m.EnterProtectedMode(m.LoadElf32(File.ReadAllBytes(Path.Combine(guests, "hello.elf"))));
    m.Run(timeout);
    Check(m.DebugExitCode == 0x21, "guest did not finish");
    var bitmap = m.Vm.GetDirtyLog(ram);
    // The guest's buffer lies in .bss above 1 MiB; it writes 16 KiB of it.
    int dirty = bitmap.Sum(w => System.Numerics.BitOperations.PopCount(w));
    Check(dirty >= 4, $"only {dirty} dirty pages after the guest wrote 16 KiB");
    return $"{dirty} dirty pages";
});

Test("smp-sipi", () =>
{
    using var m = new TestMachine(kvm, 2);
    m.Memory.Load(TestMachine.LoadAddress, File.ReadAllBytes(Path.Combine(guests, "smp.bin")));
    m.EnterProtectedMode((uint)TestMachine.LoadAddress);
    var ap = m.Vcpus[1].GetState();
    Check(ap.RunState == RunState.WaitForSipi, $"AP starts {ap.RunState}, want WaitForSipi");
    var exits = m.Run(timeout);
    Check(m.DebugExitCode == 0x21, $"BSP did not see the AP (exits: {string.Join(", ", exits.Select(e => e.Reason))})");
    Check(m.OtherPortWrites.Contains(((ushort)0x601, (byte)1)),
        $"AP did not report APIC ID 1 from CPUID: {string.Join(",", m.OtherPortWrites)}");
    return "AP started by INIT/SIPI, CPUID APIC ID 1";
});

// Debian's kernel with 2 vCPUs on the KVM backend, with hv's loader, ACPI/MP tables and UART (LinuxMachine).
string l2 = Path.Combine(Path.GetDirectoryName(guests.TrimEnd('/')) ?? "/", "l2");
Test("linux-smp", () =>
{
    string kernel = Path.Combine(l2, "vmlinuz"), initrd = Path.Combine(l2, "initrd.cpio");
    Check(File.Exists(kernel) && File.Exists(initrd), $"no L2 guest in {l2}");
    string expectedSum = File.ReadAllText(Path.Combine(l2, "expected-sum")).Trim();
    var sw = Stopwatch.StartNew();
    using var m = new LinuxMachine(kvm, 2, 256 << 20, kernel, initrd, "console=ttyS0 quiet panic=-1");
    var (exits, poweredOff) = m.Run(TimeSpan.FromSeconds(300));
    string serial = m.Serial;
    string? Marker(string name) => serial.Split('\n').Select(l => l.TrimEnd('\r'))
        .FirstOrDefault(l => l.StartsWith(name + " "))?[(name.Length + 1)..];
    Check(Marker("L2-CPUS") == "2", $"guest saw {Marker("L2-CPUS") ?? "no"} CPUs, want 2");
    Check(Marker("L2-SUM") == expectedSum, $"guest checksum {Marker("L2-SUM") ?? "missing"}, host {expectedSum}");
    Check(poweredOff, "no ACPI power-off; exits: " + string.Join("; ", exits.Select(e => $"{e.Reason} {e.Message}")));
    return $"cpus=2 sum={expectedSum} poweroff time={sw.Elapsed.TotalSeconds:F2}s l2-init-at={Marker("L2-INIT")}";
});

Console.WriteLine($"NESTED-SELFTEST-DONE failures={failures}");
return failures;
