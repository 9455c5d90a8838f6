using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>Flag instructions, LAHF/SAHF, CPUID, RDTSC/RDTSCP, the NOP forms and fences, CLFLUSH, UD2, HLT, CLI/STI.</summary>
public static unsafe class Misc
{
    public static bool InvalidOpcode(CpuContext c, ref Op op) => c.Fault(Vectors.InvalidOpcode);

    public static bool Nop(CpuContext c, ref Op op) => true;

    /// <summary>HLT: CPL 0 only (#GP(0) otherwise, also in virtual-8086 mode where CPL is 3).</summary>
    public static bool Hlt(CpuContext c, ref Op op)
    {
        if (c.Cpl != 0) return c.Fault(Vectors.GeneralProtection, 0);
        c.Exit = ExitKind.Halt;
        return false;
    }

    /// <summary>
    /// PAUSE: architecturally a NOP (any mode, any CPL), but its purpose is a spin-wait loop's hint. The vCPUs
    /// take turns on one execution lock, so a spinning vCPU must end its turn for the one it waits on to run:
    /// the block ends here and the backend hands the lock over if another vCPU waits (it costs a lone vCPU a
    /// block boundary, nothing more).
    /// </summary>
    public static bool Pause(CpuContext c, ref Op op)
    {
        c.Exit = ExitKind.Yield;
        return false;
    }

    public static bool Clc(CpuContext c, ref Op op)
    {
        c.MaterializeFlags();
        c.Rflags &= ~FlagBits.CF;
        return true;
    }

    public static bool Stc(CpuContext c, ref Op op)
    {
        c.MaterializeFlags();
        c.Rflags |= FlagBits.CF;
        return true;
    }

    public static bool Cmc(CpuContext c, ref Op op)
    {
        c.MaterializeFlags();
        c.Rflags ^= FlagBits.CF;
        return true;
    }

    public static bool Cld(CpuContext c, ref Op op)
    {
        c.Rflags &= ~FlagBits.DF;
        return true;
    }

    public static bool Std(CpuContext c, ref Op op)
    {
        c.Rflags |= FlagBits.DF;
        return true;
    }

    /// <summary>
    /// CLI/STI need CPL &lt;= IOPL (IOPL = 3 in virtual-8086 mode); the VIF forms need CR4.VME/PVI, which CPUID does
    /// not advertise, so CR4 can never enable them (Intel SDM Vol. 2A CLI, Vol. 2B STI).
    /// </summary>
    private static bool MayChangeIf(CpuContext c)
    {
        int iopl = (int)((c.Rflags & FlagBits.IOPL) >> FlagBits.IoplShift);
        return c.Mode == CpuMode.Real || (c.Mode == CpuMode.Virtual8086 ? iopl == 3 : c.Cpl <= iopl);
    }

    public static bool Cli(CpuContext c, ref Op op)
    {
        if (!MayChangeIf(c)) return c.Fault(Vectors.GeneralProtection, 0);
        c.Rflags &= ~FlagBits.IF;
        return false;
    }

    /// <summary>
    /// STI: when it sets IF (IF was 0), interrupts stay blocked until the next instruction has retired (Intel SDM
    /// Vol. 2B STI, Vol. 3 6.8.3). The block ends so the backend sees the shadow before it injects.
    /// </summary>
    public static bool Sti(CpuContext c, ref Op op)
    {
        if (!MayChangeIf(c)) return c.Fault(Vectors.GeneralProtection, 0);
        if ((c.Rflags & FlagBits.IF) == 0) c.InterruptShadow = true;
        c.Rflags |= FlagBits.IF;
        return false;
    }

    /// <summary>
    /// CLFLUSH: guest memory is coherent host memory, so only the access check remains: the line is checked like a
    /// byte load (canonical form, #PF; Intel SDM Vol. 2A CLFLUSH) - translated only, so an MMIO line is not read.
    /// </summary>
    public static bool Clflush(CpuContext c, ref Op op) =>
        c.Memory.Mmu.Translate(c, Addressing.Linear(c, ref op), Memory.AccessType.Read, c.Cpl == 3, out _);

    /// <summary>LAHF: AH = SF:ZF:0:AF:0:PF:1:CF.</summary>
    public static bool Lahf(CpuContext c, ref Op op)
    {
        c.SetReg<byte>(1, (c.GetRflags() & 0xD5) | 2);
        return true;
    }

    /// <summary>SAHF: SF, ZF, AF, PF, CF from AH; OF unchanged.</summary>
    public static bool Sahf(CpuContext c, ref Op op)
    {
        c.MaterializeFlags();
        c.Rflags = (c.Rflags & ~0xD5UL) | (c.GetReg<byte>(1) & 0xD5);
        return true;
    }

    public static bool Cpuid(CpuContext c, ref Op op)
    {
        var (a, b, cx, d) = c.Cpuid.Query(c, (uint)c.Gpr(0), (uint)c.Gpr(1));
        c.Gpr(0) = a;
        c.Gpr(3) = b;
        c.Gpr(1) = cx;
        c.Gpr(2) = d;
        return true;
    }

    /// <summary>RDTSC: #GP when CR4.TSD is set outside CPL 0 (Intel SDM Vol. 2B RDTSC).</summary>
    public static bool Rdtsc(CpuContext c, ref Op op)
    {
        if ((c.Architectural.Cr4 & 4) != 0 && c.Cpl != 0) return c.Fault(Vectors.GeneralProtection, 0);
        ulong tsc = c.ReadTsc();
        c.Gpr(0) = (uint)tsc;
        c.Gpr(2) = tsc >> 32;
        return true;
    }

    /// <summary>RDTSCP also loads ECX with IA32_TSC_AUX (MSR C000_0103h).</summary>
    public static bool Rdtscp(CpuContext c, ref Op op)
    {
        if (!Rdtsc(c, ref op)) return false;
        c.Gpr(1) = (uint)c.Architectural.Msrs.GetValueOrDefault(MsrIndex.TscAux);
        return true;
    }

    internal static bool Bind(in Instruction ins, ref Op op, in BindContext ctx)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Hlt: op.Handler = &Hlt; return true;
            case Mnemonic.Pause: op.Handler = &Pause; return true;
            // CET is not advertised: ENDBR32/64 and RDSSP lie in the reserved-NOP space (0F 1E) and execute as
            // NOPs on such a processor (Intel SDM Vol. 2A ENDBR64, Vol. 2B RDSSP); CET-built code relies on it.
            case Mnemonic.Endbr32:
            case Mnemonic.Endbr64:
            case Mnemonic.Rdsspd:
            case Mnemonic.Rdsspq:
            case Mnemonic.Nop:
            case Mnemonic.Lfence:
            case Mnemonic.Mfence:
            case Mnemonic.Sfence:
            case Mnemonic.Prefetchnta:
            case Mnemonic.Prefetcht0:
            case Mnemonic.Prefetcht1:
            case Mnemonic.Prefetcht2:
            case Mnemonic.Prefetchw:
                op.Handler = &Nop;
                return true;
            case Mnemonic.Ud0:
            case Mnemonic.Ud1:
            case Mnemonic.Ud2:
                op.Handler = &InvalidOpcode;
                return true;
            case Mnemonic.Clc: op.Handler = &Clc; return true;
            case Mnemonic.Stc: op.Handler = &Stc; return true;
            case Mnemonic.Cmc: op.Handler = &Cmc; return true;
            case Mnemonic.Cld: op.Handler = &Cld; return true;
            case Mnemonic.Std: op.Handler = &Std; return true;
            case Mnemonic.Cli: op.Handler = &Cli; return true;
            case Mnemonic.Sti: op.Handler = &Sti; return true;
            case Mnemonic.Lahf: op.Handler = &Lahf; return true;
            case Mnemonic.Sahf: op.Handler = &Sahf; return true;
            case Mnemonic.Cpuid: op.Handler = &Cpuid; return true;
            case Mnemonic.Rdtsc: op.Handler = &Rdtsc; return true;
            case Mnemonic.Rdtscp: op.Handler = &Rdtscp; return true;
            case Mnemonic.Clflush: op.Handler = &Clflush; return true;
        }
        return false;
    }
}
