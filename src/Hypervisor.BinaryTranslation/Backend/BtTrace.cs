using System.Text;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.Backend;

[Flags]
public enum BtTraceEvents
{
    None = 0,

    /// <summary>Every exception the guest raises, with CS:RIP, error code and CR2 (QEMU's -d int for faults).</summary>
    Exceptions = 1,

    /// <summary>Every external interrupt and NMI injected, with its vector.</summary>
    Interrupts = 2,

    /// <summary>HLT, wake-ups, INIT and SIPI.</summary>
    Halt = 4,

    All = Exceptions | Interrupts | Halt,
}

/// <summary>The BT backend's diagnostics: event traces (HV_BT_TRACE) and register dumps for exit messages.</summary>
public static class BtTrace
{
    public static BtTraceEvents Parse(string? spec)
    {
        var events = BtTraceEvents.None;
        if (string.IsNullOrWhiteSpace(spec)) return events;
        foreach (var word in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            events |= word.ToLowerInvariant() switch
            {
                "exc" or "exception" or "exceptions" => BtTraceEvents.Exceptions,
                "int" or "irq" or "interrupts" => BtTraceEvents.Interrupts,
                "halt" or "hlt" => BtTraceEvents.Halt,
                "all" => BtTraceEvents.All,
                _ => BtTraceEvents.None,
            };
        }
        return events;
    }

    /// <summary>Registers in the layout the KVM backend's messages use, so the two read alike.</summary>
    public static string DumpRegisters(CpuState s)
    {
        var b = new StringBuilder();
        b.AppendLine($"RAX={s.Rax:x16} RBX={s.Rbx:x16} RCX={s.Rcx:x16} RDX={s.Rdx:x16}");
        b.AppendLine($"RSI={s.Rsi:x16} RDI={s.Rdi:x16} RBP={s.Rbp:x16} RSP={s.Rsp:x16}");
        b.AppendLine($"R8 ={s[Gpr.R8]:x16} R9 ={s[Gpr.R9]:x16} R10={s[Gpr.R10]:x16} R11={s[Gpr.R11]:x16}");
        b.AppendLine($"R12={s[Gpr.R12]:x16} R13={s[Gpr.R13]:x16} R14={s[Gpr.R14]:x16} R15={s[Gpr.R15]:x16}");
        b.AppendLine($"RIP={s.Rip:x16} RFL={s.Rflags:x8}");
        foreach (var (name, seg) in new[] { ("ES", s.Es), ("CS", s.Cs), ("SS", s.Ss), ("DS", s.Ds), ("FS", s.Fs),
                     ("GS", s.Gs), ("LDT", s.Ldtr), ("TR", s.Tr) })
            b.AppendLine($"{name,-3}={seg.Selector:x4} {seg.Base:x16} {seg.Limit:x8} type={seg.Type:x} " +
                         $"s={(seg.CodeOrData ? 1 : 0)} dpl={seg.Dpl} p={(seg.Present ? 1 : 0)} " +
                         $"db={(seg.DefaultBig ? 1 : 0)} l={(seg.Long ? 1 : 0)} g={(seg.Granularity ? 1 : 0)}");
        b.AppendLine($"GDT={s.Gdtr.Base:x16} {s.Gdtr.Limit:x4}  IDT={s.Idtr.Base:x16} {s.Idtr.Limit:x4}");
        b.Append($"CR0={s.Cr0:x8} CR2={s.Cr2:x16} CR3={s.Cr3:x16} CR4={s.Cr4:x8} EFER={s.Efer:x}");
        return b.ToString();
    }

    internal static string Describe(in PendingException e) =>
        $"vector {e.Vector} ({VectorName(e.Vector)})" +
        (e.HasErrorCode ? $" error code 0x{e.ErrorCode:x}" : "") +
        (e.Vector == Vectors.PageFault ? $" address 0x{e.FaultAddress:x}" : "");

    public static string VectorName(int vector) => vector switch
    {
        0 => "#DE", 1 => "#DB", 2 => "NMI", 3 => "#BP", 4 => "#OF", 5 => "#BR", 6 => "#UD", 7 => "#NM",
        8 => "#DF", 10 => "#TS", 11 => "#NP", 12 => "#SS", 13 => "#GP", 14 => "#PF", 16 => "#MF", 17 => "#AC",
        18 => "#MC", 19 => "#XM", 20 => "#VE", 21 => "#CP",
        _ => vector < 32 ? "reserved" : "interrupt",
    };
}
