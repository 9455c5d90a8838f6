using System.Runtime.InteropServices;
using System.Text;
using Hypervisor.Kvm.Native;
using Hypervisor.Platform.Cpu;
using static Hypervisor.Kvm.Native.KvmConstants;

namespace Hypervisor.Kvm;

public sealed unsafe partial class KvmVcpu
{
    private const int FxSaveXStateBvOffset = 512;

    private readonly uint[] _msrIndices;

    /// <summary>The MSRs this vCPU saves and restores (see <see cref="KvmMsrs"/>).</summary>
    public IReadOnlyList<uint> SavedMsrs => _msrIndices;


    private uint[] SelectMsrs()
    {
        var listed = new HashSet<uint>(_vm.Hypervisor.MsrIndexList.ToArray());
        // Probing each one: KVM lists some MSRs the vCPU's CPUID does not enable, and KVM_GET_MSRS stops at the
        // first it cannot read.
        return KvmMsrs.Wanted.Where(i => listed.Contains(i) && TryReadMsr(i, out _)).ToArray();
    }

    private bool TryReadMsr(uint index, out ulong value)
    {
        var buffer = stackalloc byte[sizeof(kvm_msrs) + sizeof(kvm_msr_entry)];
        ((kvm_msrs*)buffer)->nmsrs = 1;
        var entry = (kvm_msr_entry*)(buffer + sizeof(kvm_msrs));
        *entry = new kvm_msr_entry { index = index };
        bool ok = Tmds.Linux.LibC.ioctl(_fd, KvmIoctls.KVM_GET_MSRS, buffer) == 1;
        value = entry->data;
        return ok;
    }

    public CpuState GetState()
    {
        var s = new CpuState();
        kvm_regs regs = default;
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_REGS, ref regs, "KVM_GET_REGS");
        FromRegs(s, regs);
        kvm_sregs sregs = default;
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_SREGS, ref sregs, "KVM_GET_SREGS");
        FromSregs(s, sregs);
        GetFpu(s);
        if (_hasXcrs)
        {
            kvm_xcrs xcrs = default;
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_XCRS, ref xcrs, "KVM_GET_XCRS");
            for (int i = 0; i < xcrs.nr_xcrs; i++)
                if (xcrs.Xcr(i).xcr == 0) s.Xcr0 = xcrs.Xcr(i).value;
        }
        if (_hasDebugRegs)
        {
            kvm_debugregs dr = default;
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_DEBUGREGS, ref dr, "KVM_GET_DEBUGREGS");
            (s.Dr0, s.Dr1, s.Dr2, s.Dr3, s.Dr6, s.Dr7) = (dr.db[0], dr.db[1], dr.db[2], dr.db[3], dr.dr6, dr.dr7);
        }
        GetMsrs(s);
        kvm_lapic_state lapic = default;
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_LAPIC, ref lapic, "KVM_GET_LAPIC");
        new ReadOnlySpan<byte>(lapic.regs, KVM_APIC_REG_SIZE).CopyTo(s.LapicRegisters);
        kvm_vcpu_events events = default;
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_VCPU_EVENTS, ref events, "KVM_GET_VCPU_EVENTS");
        kvm_mp_state mp = default;
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_MP_STATE, ref mp, "KVM_GET_MP_STATE");
        FromEvents(s, events, mp.mp_state);
        return s;
    }

    /// <summary>
    /// Loads a complete state, in the order QEMU's kvm_arch_put_registers uses: registers, FPU, XCRs, special
    /// registers, MSRs, MP state, LAPIC, events, debug registers (later ones depend on earlier ones).
    /// A zeroed LAPIC page is not applied (see <see cref="HasLapicState"/>), and only MSRs present in
    /// <see cref="CpuState.Msrs"/> are written.
    /// </summary>
    public void SetState(CpuState s)
    {
        var regs = ToRegs(s);
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_REGS, ref regs, "KVM_SET_REGS");
        SetFpu(s);
        if (_hasXcrs)
        {
            var xcrs = new kvm_xcrs { nr_xcrs = 1 };
            xcrs.Xcr(0) = new kvm_xcr { xcr = 0, value = s.Xcr0 };
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_XCRS, ref xcrs, $"KVM_SET_XCRS (XCR0 0x{s.Xcr0:x})");
        }
        var sregs = ToSregs(s);
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_SREGS, ref sregs, "KVM_SET_SREGS");
        SetMsrs(s, i => i != KvmMsrs.TscDeadline);
        var mp = new kvm_mp_state { mp_state = ToMpState(s) };
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_MP_STATE, ref mp, "KVM_SET_MP_STATE");
        if (HasLapicState(s))
        {
            kvm_lapic_state lapic = default;
            s.LapicRegisters.AsSpan(0, KVM_APIC_REG_SIZE).CopyTo(new Span<byte>(lapic.regs, KVM_APIC_REG_SIZE));
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_LAPIC, ref lapic, "KVM_SET_LAPIC");
        }
        SetMsrs(s, i => i == KvmMsrs.TscDeadline);
        var events = ToEvents(s);
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_VCPU_EVENTS, ref events, "KVM_SET_VCPU_EVENTS");
        if (_hasDebugRegs)
        {
            var dr = new kvm_debugregs { dr6 = s.Dr6, dr7 = s.Dr7 };
            (dr.db[0], dr.db[1], dr.db[2], dr.db[3]) = (s.Dr0, s.Dr1, s.Dr2, s.Dr3);
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_DEBUGREGS, ref dr, "KVM_SET_DEBUGREGS");
        }
    }

    /// <summary>
    /// A state built by hand (a boot loader's entry state) leaves the LAPIC page zeroed. Every local APIC has a
    /// non-zero version register (offset 0x30; Intel SDM Vol. 3, 11.4.8), so a zero there means "no LAPIC
    /// state": the vCPU keeps KVM's reset LAPIC (with LVT0 in ExtINT on the BSP, which the PIC's timer
    /// interrupt needs until the guest programs its APIC) instead of being given an all-zero one.
    /// </summary>
    internal static bool HasLapicState(CpuState s) => BitConverter.ToUInt32(s.LapicRegisters, 0x30) != 0;

    private static void FromRegs(CpuState s, in kvm_regs r)
    {
        (s.Rax, s.Rbx, s.Rcx, s.Rdx, s.Rsi, s.Rdi, s.Rsp, s.Rbp) = (r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp);
        (s[Gpr.R8], s[Gpr.R9], s[Gpr.R10], s[Gpr.R11]) = (r.r8, r.r9, r.r10, r.r11);
        (s[Gpr.R12], s[Gpr.R13], s[Gpr.R14], s[Gpr.R15]) = (r.r12, r.r13, r.r14, r.r15);
        s.Rip = r.rip;
        s.Rflags = r.rflags;
    }

    private static kvm_regs ToRegs(CpuState s) => new()
    {
        rax = s.Rax, rbx = s.Rbx, rcx = s.Rcx, rdx = s.Rdx, rsi = s.Rsi, rdi = s.Rdi, rsp = s.Rsp, rbp = s.Rbp,
        r8 = s[Gpr.R8], r9 = s[Gpr.R9], r10 = s[Gpr.R10], r11 = s[Gpr.R11],
        r12 = s[Gpr.R12], r13 = s[Gpr.R13], r14 = s[Gpr.R14], r15 = s[Gpr.R15],
        rip = s.Rip, rflags = s.Rflags,
    };

    private static void FromSregs(CpuState s, in kvm_sregs r)
    {
        (s.Cs, s.Ds, s.Es, s.Fs, s.Gs, s.Ss) = (Seg(r.cs), Seg(r.ds), Seg(r.es), Seg(r.fs), Seg(r.gs), Seg(r.ss));
        (s.Tr, s.Ldtr) = (Seg(r.tr), Seg(r.ldt));
        s.Gdtr = new DescriptorTableRegister { Base = r.gdt.@base, Limit = r.gdt.limit };
        s.Idtr = new DescriptorTableRegister { Base = r.idt.@base, Limit = r.idt.limit };
        (s.Cr0, s.Cr2, s.Cr3, s.Cr4, s.Cr8) = (r.cr0, r.cr2, r.cr3, r.cr4, r.cr8);
        s.Efer = r.efer;
        s.ApicBase = r.apic_base;
    }

    private static kvm_sregs ToSregs(CpuState s)
    {
        // interrupt_bitmap stays empty: an interrupt being injected travels in kvm_vcpu_events instead.
        var r = new kvm_sregs
        {
            cs = Seg(s.Cs), ds = Seg(s.Ds), es = Seg(s.Es), fs = Seg(s.Fs), gs = Seg(s.Gs), ss = Seg(s.Ss),
            tr = Seg(s.Tr), ldt = Seg(s.Ldtr),
            cr0 = s.Cr0, cr2 = s.Cr2, cr3 = s.Cr3, cr4 = s.Cr4, cr8 = s.Cr8, efer = s.Efer, apic_base = s.ApicBase,
        };
        r.gdt.@base = s.Gdtr.Base;
        r.gdt.limit = s.Gdtr.Limit;
        r.idt.@base = s.Idtr.Base;
        r.idt.limit = s.Idtr.Limit;
        return r;
    }

    private static SegmentRegister Seg(in kvm_segment k) => new()
    {
        Selector = k.selector, Base = k.@base, Limit = k.limit, Type = k.type, CodeOrData = k.s != 0,
        Dpl = k.dpl, Present = k.present != 0, Available = k.avl != 0, Long = k.l != 0, DefaultBig = k.db != 0,
        Granularity = k.g != 0, Unusable = k.unusable != 0,
    };

    private static kvm_segment Seg(in SegmentRegister s) => new()
    {
        selector = s.Selector, @base = s.Base, limit = s.Limit, type = s.Type, s = B(s.CodeOrData), dpl = s.Dpl,
        present = B(s.Present), avl = B(s.Available), l = B(s.Long), db = B(s.DefaultBig), g = B(s.Granularity),
        unusable = B(s.Unusable),
    };

    private static byte B(bool b) => b ? (byte)1 : (byte)0;

    private void GetFpu(CpuState s)
    {
        if (_hasXsave)
        {
            var xsave = new byte[sizeof(kvm_xsave)];
            fixed (byte* p = xsave) KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_XSAVE, p, "KVM_GET_XSAVE");
            xsave.AsSpan(0, CpuState.FxSaveSize).CopyTo(s.FxSave);
            s.XSave = xsave;
            return;
        }
        kvm_fpu f = default;
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_FPU, ref f, "KVM_GET_FPU");
        FxSaveLayout.FromKvmFpu(f, s.FxSave);
    }

    private void SetFpu(CpuState s)
    {
        if (_hasXsave)
        {
            // FxSave is always complete, XSave only when a backend had one: FxSave wins for x87/SSE, and the
            // XSTATE_BV bits for those two components are set so the CPU takes them from the legacy area.
            var xsave = new byte[sizeof(kvm_xsave)];
            if (s.XSave is { Length: >= 576 } saved) saved.AsSpan(0, Math.Min(saved.Length, xsave.Length)).CopyTo(xsave);
            s.FxSave.CopyTo(xsave, 0);
            xsave[FxSaveXStateBvOffset] |= 0x3;
            fixed (byte* p = xsave) KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_XSAVE, p, "KVM_SET_XSAVE");
            return;
        }
        var f = FxSaveLayout.ToKvmFpu(s.FxSave);
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_FPU, ref f, "KVM_SET_FPU");
    }

    private void GetMsrs(CpuState s)
    {
        int n = _msrIndices.Length;
        if (n == 0) return;
        var buffer = (byte*)NativeMemory.AllocZeroed((nuint)(sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry)));
        try
        {
            ((kvm_msrs*)buffer)->nmsrs = (uint)n;
            var entries = (kvm_msr_entry*)(buffer + sizeof(kvm_msrs));
            for (int i = 0; i < n; i++) entries[i].index = _msrIndices[i];
            int read = KvmNative.Ioctl(_fd, KvmIoctls.KVM_GET_MSRS, buffer, "KVM_GET_MSRS");
            if (read != n) throw new IOException($"KVM_GET_MSRS read {read} of {n} MSRs: MSR 0x{_msrIndices[read]:x} failed");
            for (int i = 0; i < n; i++) s.Msrs[entries[i].index] = entries[i].data;
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    private void SetMsrs(CpuState s, Func<uint, bool> which)
    {
        // MSRs KVM does not save on this vCPU (from a BT state, say) have nowhere to go and are left out.
        var selected = _msrIndices.Where(i => which(i) && s.Msrs.ContainsKey(i)).ToArray();
        if (selected.Length == 0) return;
        var buffer = (byte*)NativeMemory.AllocZeroed((nuint)(sizeof(kvm_msrs) + selected.Length * sizeof(kvm_msr_entry)));
        try
        {
            ((kvm_msrs*)buffer)->nmsrs = (uint)selected.Length;
            var entries = (kvm_msr_entry*)(buffer + sizeof(kvm_msrs));
            for (int i = 0; i < selected.Length; i++)
                entries[i] = new kvm_msr_entry { index = selected[i], data = s.Msrs[selected[i]] };
            int written = KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_MSRS, buffer, "KVM_SET_MSRS");
            if (written != selected.Length)
                throw new IOException($"KVM_SET_MSRS rejected MSR 0x{selected[written]:x} = 0x{s.Msrs[selected[written]]:x}");
        }
        finally
        {
            NativeMemory.Free(buffer);
        }
    }

    private static void FromEvents(CpuState s, in kvm_vcpu_events e, uint mpState)
    {
        s.Events = new PendingEvents
        {
            ExceptionPending = e.exception_injected != 0 || e.exception_pending != 0,
            ExceptionVector = e.exception_nr,
            ExceptionHasErrorCode = e.exception_has_error_code != 0,
            ExceptionErrorCode = e.exception_error_code,
            InterruptPending = e.interrupt_injected != 0,
            InterruptVector = e.interrupt_nr,
            NmiPending = e.nmi_pending != 0 || e.nmi_injected != 0,
            NmiMasked = e.nmi_masked != 0,
            InterruptShadow = e.interrupt_shadow != 0,
            SipiPending = mpState == KVM_MP_STATE_SIPI_RECEIVED,
            SipiVector = (byte)e.sipi_vector,
        };
        s.RunState = mpState switch
        {
            KVM_MP_STATE_HALTED => RunState.Halted,
            KVM_MP_STATE_UNINITIALIZED or KVM_MP_STATE_INIT_RECEIVED or KVM_MP_STATE_SIPI_RECEIVED => RunState.WaitForSipi,
            _ => RunState.Runnable,
        };
    }

    private static uint ToMpState(CpuState s) => s.RunState switch
    {
        RunState.Halted => KVM_MP_STATE_HALTED,
        RunState.WaitForSipi => s.Events.SipiPending ? KVM_MP_STATE_SIPI_RECEIVED : KVM_MP_STATE_INIT_RECEIVED,
        _ => KVM_MP_STATE_RUNNABLE,
    };

    private static kvm_vcpu_events ToEvents(CpuState s)
    {
        var ev = s.Events;
        // An exception or interrupt in flight is re-injected (the "injected" state of api.rst 4.31), which is
        // what KVM_GET_VCPU_EVENTS reports for one interrupted mid-delivery.
        return new kvm_vcpu_events
        {
            exception_injected = B(ev.ExceptionPending),
            exception_nr = ev.ExceptionVector,
            exception_has_error_code = B(ev.ExceptionHasErrorCode),
            exception_error_code = ev.ExceptionErrorCode,
            interrupt_injected = B(ev.InterruptPending),
            interrupt_nr = ev.InterruptVector,
            interrupt_shadow = B(ev.InterruptShadow),
            nmi_pending = B(ev.NmiPending),
            nmi_masked = B(ev.NmiMasked),
            sipi_vector = ev.SipiVector,
            flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | KVM_VCPUEVENT_VALID_SHADOW,
        };
    }

    /// <summary>The register dump fatal exits carry, in the spirit of QEMU's "info registers".</summary>
    public string DumpRegisters()
    {
        if (_fd < 0) return "(vCPU closed)";
        kvm_regs r = default;
        kvm_sregs sr = default;
        if (Tmds.Linux.LibC.ioctl(_fd, KvmIoctls.KVM_GET_REGS, &r) < 0 ||
            Tmds.Linux.LibC.ioctl(_fd, KvmIoctls.KVM_GET_SREGS, &sr) < 0)
            return "(registers unavailable)";
        var b = new StringBuilder();
        b.AppendLine($"RAX={r.rax:x16} RBX={r.rbx:x16} RCX={r.rcx:x16} RDX={r.rdx:x16}");
        b.AppendLine($"RSI={r.rsi:x16} RDI={r.rdi:x16} RBP={r.rbp:x16} RSP={r.rsp:x16}");
        b.AppendLine($"R8 ={r.r8:x16} R9 ={r.r9:x16} R10={r.r10:x16} R11={r.r11:x16}");
        b.AppendLine($"R12={r.r12:x16} R13={r.r13:x16} R14={r.r14:x16} R15={r.r15:x16}");
        b.AppendLine($"RIP={r.rip:x16} RFL={r.rflags:x8}");
        foreach (var (name, seg) in new[] { ("ES", sr.es), ("CS", sr.cs), ("SS", sr.ss), ("DS", sr.ds),
                     ("FS", sr.fs), ("GS", sr.gs), ("LDT", sr.ldt), ("TR", sr.tr) })
            b.AppendLine($"{name,-3}={seg.selector:x4} {seg.@base:x16} {seg.limit:x8} type={seg.type:x} " +
                         $"s={seg.s} dpl={seg.dpl} p={seg.present} db={seg.db} l={seg.l} g={seg.g}");
        b.AppendLine($"GDT={sr.gdt.@base:x16} {sr.gdt.limit:x4}  IDT={sr.idt.@base:x16} {sr.idt.limit:x4}");
        b.Append($"CR0={sr.cr0:x8} CR2={sr.cr2:x16} CR3={sr.cr3:x16} CR4={sr.cr4:x8} EFER={sr.efer:x}");
        return b.ToString();
    }
}
