using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// SYSCALL/SYSRET, SYSENTER/SYSEXIT and SWAPGS as an Intel CPU runs them (Intel SDM Vol. 2B): SYSCALL and SYSRET
/// only in 64-bit mode, SYSENTER also from compatibility mode. The segments they load are fixed flat descriptors
/// built from the MSRs, not read from the GDT (Vol. 3, 5.8.7 and 5.8.8).
/// </summary>
public static class FastSystemCalls
{
    private const ulong EferSce = 1;
    private const ulong EferLma = 1 << 10;

    private static ulong Msr(CpuContext c, uint index) =>
        c.Architectural.Msrs.TryGetValue(index, out ulong v) ? v : 0;

    private static bool IsCanonical(ulong address) => (ulong)((long)(address << 16) >> 16) == address;

    /// <summary>A flat segment as SYSCALL/SYSENTER define it (base 0, 4 GiB, accessed).</summary>
    private static SegmentRegister FlatSegment(ushort selector, bool code, bool longCode, int dpl) => new()
    {
        Selector = selector,
        Base = 0,
        Limit = 0xFFFF_FFFF,
        Type = code ? (byte)0xB : (byte)0x3,
        CodeOrData = true,
        Dpl = (byte)dpl,
        Present = true,
        Long = longCode,
        DefaultBig = !longCode,
        Granularity = true,
    };

    /// <summary>SYSCALL: RCX = next RIP, R11 = RFLAGS; CS/SS from STAR[47:32]; RIP = LSTAR; RFLAGS &amp;= ~SFMASK.</summary>
    public static bool Syscall(CpuContext c, ref Op op)
    {
        if ((c.Architectural.Efer & EferSce) == 0 || c.Mode != CpuMode.Long64) return c.Fault(Vectors.InvalidOpcode);
        ulong star = Msr(c, MsrIndex.Star);
        ushort selector = (ushort)(star >> 32);
        ulong flags = c.GetRflags();
        c.Gpr(1) = c.Rip;
        c.Gpr(11) = flags & ~FlagBits.RF;
        c.Rflags = (flags & ~Msr(c, MsrIndex.Sfmask) & ~FlagBits.RF) | FlagBits.Reserved1;
        c.CcOp = 0;
        c.Segments[SegmentLoader.Cs] = FlatSegment((ushort)(selector & 0xFFFC), code: true, longCode: true, dpl: 0);
        c.Segments[SegmentLoader.Ss] = FlatSegment((ushort)(selector + 8), code: false, longCode: false, dpl: 0);
        c.UpdateMode();
        c.Rip = Msr(c, MsrIndex.Lstar);
        return false;
    }

    /// <summary>SYSRET (op.Aux = 8: to 64-bit code, RIP = RCX; 4: to compatibility mode, EIP = ECX); RFLAGS = R11.</summary>
    public static bool Sysret(CpuContext c, ref Op op)
    {
        if ((c.Architectural.Efer & EferSce) == 0 || c.Mode != CpuMode.Long64) return c.Fault(Vectors.InvalidOpcode);
        if (c.Cpl != 0) return c.Fault(Vectors.GeneralProtection, 0);
        bool to64 = op.Aux == 8;
        ulong rip = to64 ? c.Gpr(1) : (uint)c.Gpr(1);
        // Intel checks RCX at CPL 0, before anything changes (the #GP is taken in ring 0 on the kernel stack).
        if (!IsCanonical(rip)) return c.Fault(Vectors.GeneralProtection, 0);
        ushort selector = (ushort)(Msr(c, MsrIndex.Star) >> 48);
        ushort cs = (ushort)((to64 ? selector + 16 : selector) | 3);
        c.Segments[SegmentLoader.Cs] = FlatSegment(cs, code: true, longCode: to64, dpl: 3);
        c.Segments[SegmentLoader.Ss] = FlatSegment((ushort)((selector + 8) | 3), code: false, longCode: false, dpl: 3);
        c.Rflags = (c.Gpr(11) & 0x3C_7FD7) | FlagBits.Reserved1;
        c.CcOp = 0;
        c.UpdateMode();
        c.Rip = rip;
        return false;
    }

    /// <summary>SYSENTER: CS = SYSENTER_CS, SS = CS + 8, ESP/EIP from the MSRs; 64-bit code when IA-32e mode is active.</summary>
    public static bool Sysenter(CpuContext c, ref Op op)
    {
        ulong csMsr = Msr(c, MsrIndex.SysenterCs);
        if (c.Mode == CpuMode.Real || (csMsr & 0xFFFC) == 0) return c.Fault(Vectors.GeneralProtection, 0);
        bool longMode = (c.Architectural.Efer & EferLma) != 0;
        ushort selector = (ushort)(csMsr & 0xFFFC);
        c.Rflags = (c.GetRflags() & ~(FlagBits.VM | FlagBits.IF | FlagBits.RF)) | FlagBits.Reserved1;
        c.CcOp = 0;
        c.Segments[SegmentLoader.Cs] = FlatSegment(selector, code: true, longCode: longMode, dpl: 0);
        c.Segments[SegmentLoader.Ss] = FlatSegment((ushort)(selector + 8), code: false, longCode: false, dpl: 0);
        c.UpdateMode();
        ulong esp = Msr(c, MsrIndex.SysenterEsp), eip = Msr(c, MsrIndex.SysenterEip);
        c.Gpr(4) = longMode ? esp : (uint)esp;
        c.Rip = longMode ? eip : (uint)eip;
        return false;
    }

    /// <summary>SYSEXIT (op.Aux = 8 with REX.W: to 64-bit code at CS + 32) - RIP = rDX, RSP = rCX, CPL 3.</summary>
    public static bool Sysexit(CpuContext c, ref Op op)
    {
        ulong csMsr = Msr(c, MsrIndex.SysenterCs);
        if (c.Mode is CpuMode.Real or CpuMode.Virtual8086 || c.Cpl != 0 || (csMsr & 0xFFFC) == 0)
            return c.Fault(Vectors.GeneralProtection, 0);
        bool to64 = op.Aux == 8;
        ulong rip = to64 ? c.Gpr(2) : (uint)c.Gpr(2);
        ulong rsp = to64 ? c.Gpr(1) : (uint)c.Gpr(1);
        if (to64 && (!IsCanonical(rip) || !IsCanonical(rsp))) return c.Fault(Vectors.GeneralProtection, 0);
        ushort selector = (ushort)(csMsr & 0xFFFC);
        ushort cs = (ushort)((selector + (to64 ? 32 : 16)) | 3);
        ushort ss = (ushort)((selector + (to64 ? 40 : 24)) | 3);
        c.Segments[SegmentLoader.Cs] = FlatSegment(cs, code: true, longCode: to64, dpl: 3);
        c.Segments[SegmentLoader.Ss] = FlatSegment(ss, code: false, longCode: false, dpl: 3);
        c.UpdateMode();
        c.Gpr(4) = rsp;
        c.Rip = rip;
        return false;
    }

    /// <summary>SWAPGS: exchanges GS.base with IA32_KERNEL_GS_BASE (64-bit mode, CPL 0).</summary>
    public static bool Swapgs(CpuContext c, ref Op op)
    {
        if (c.Mode != CpuMode.Long64) return c.Fault(Vectors.InvalidOpcode);
        if (c.Cpl != 0) return c.Fault(Vectors.GeneralProtection, 0);
        var msrs = c.Architectural.Msrs;
        ulong kernel = msrs.TryGetValue(MsrIndex.KernelGsBase, out ulong k) ? k : 0;
        msrs[MsrIndex.KernelGsBase] = c.Segments[SegmentLoader.Gs].Base;
        c.Segments[SegmentLoader.Gs].Base = kernel;
        c.SegBase[SegmentLoader.Gs] = kernel;
        return true;
    }
}
