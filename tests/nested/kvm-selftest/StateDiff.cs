using Hypervisor.Platform.Cpu;

namespace Hypervisor.Kvm.SelfTest;

/// <summary>Field-by-field comparison of two CPU states, naming each difference.</summary>
internal static class StateDiff
{
    public static IEnumerable<string> Compare(CpuState a, CpuState b)
    {
        for (int i = 0; i < 16; i++)
            if (a.Gprs[i] != b.Gprs[i]) yield return $"{(Gpr)i} {a.Gprs[i]:x} != {b.Gprs[i]:x}";
        foreach (var (name, x, y) in new[]
                 {
                     ("RIP", a.Rip, b.Rip), ("RFLAGS", a.Rflags, b.Rflags), ("CR0", a.Cr0, b.Cr0), ("CR2", a.Cr2, b.Cr2),
                     ("CR3", a.Cr3, b.Cr3), ("CR4", a.Cr4, b.Cr4), ("CR8", a.Cr8, b.Cr8), ("EFER", a.Efer, b.Efer),
                     ("XCR0", a.Xcr0, b.Xcr0), ("APICBASE", a.ApicBase, b.ApicBase), ("DR7", a.Dr7, b.Dr7),
                     ("DR6", a.Dr6, b.Dr6),
                 })
            if (x != y) yield return $"{name} {x:x} != {y:x}";
        foreach (var (name, x, y) in new[]
                 {
                     ("CS", a.Cs, b.Cs), ("DS", a.Ds, b.Ds), ("ES", a.Es, b.Es), ("FS", a.Fs, b.Fs), ("GS", a.Gs, b.Gs),
                     ("SS", a.Ss, b.Ss), ("TR", a.Tr, b.Tr), ("LDTR", a.Ldtr, b.Ldtr),
                 })
            if (!x.Equals(y)) yield return $"{name} differs";
        if (!a.Gdtr.Equals(b.Gdtr)) yield return "GDTR differs";
        if (!a.Idtr.Equals(b.Idtr)) yield return "IDTR differs";
        if (!a.FxSave.AsSpan().SequenceEqual(b.FxSave)) yield return "FXSAVE image differs";
        // The timer's current count (0x390) runs on; everything else in the LAPIC page must survive.
        for (int i = 0; i < a.LapicRegisters.Length; i++)
            if (i / 16 != 0x390 / 16 && a.LapicRegisters[i] != b.LapicRegisters[i])
            {
                yield return $"LAPIC register 0x{i & ~15:x} differs";
                break;
            }
        foreach (var (index, value) in a.Msrs)
            if (index != KvmMsrs.Tsc && (!b.Msrs.TryGetValue(index, out var other) || other != value))
                yield return $"MSR 0x{index:x} {value:x} != {(b.Msrs.TryGetValue(index, out var o) ? o.ToString("x") : "missing")}";
        if (!a.Events.Equals(b.Events)) yield return "pending events differ";
        if (a.RunState != b.RunState) yield return $"run state {a.RunState} != {b.RunState}";
    }
}
