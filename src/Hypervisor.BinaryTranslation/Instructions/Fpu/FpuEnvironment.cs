using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>
/// FNSTENV/FSTENV, FLDENV, FNSAVE/FSAVE, FRSTOR (Intel SDM Vol. 2A) over <see cref="X87Environment"/>. Aux = 1:
/// 32-bit operand size (28/108-byte images), 0: 16-bit (14/94); Cond = 1: waiting form (FWAIT first). The layout
/// is the real/virtual-8086 one in those modes, the protected one otherwise. Every access is checked before any
/// state changes, so a fault leaves memory and the FPU as they were.
/// </summary>
public static unsafe class FpuEnvironment
{
    private const int MaxImage = 108;

    private static bool Real(CpuContext c) => c.Mode is CpuMode.Real or CpuMode.Virtual8086;

    private static bool Wait(CpuContext c, ref Op op) => op.Cond == 0 || Fpu.Begin(c, out _);

    /// <summary>FNSTENV: stores the environment, then masks every exception (which also clears ES/B).</summary>
    public static bool StoreEnvironment(CpuContext c, ref Op op)
    {
        if (!Wait(c, ref op)) return false;
        bool wide = op.Aux != 0;
        int size = X87Environment.EnvironmentSize(wide);
        byte* image = stackalloc byte[MaxImage];
        X87Environment.Store(c, new Span<byte>(image, size), wide, Real(c));
        if (!c.WriteBytes(Addressing.Linear(c, ref op), image, size)) return false;
        c.Fcw |= 0x3F;
        Fpu.Commit(c, (X87Status)c.Fsw);
        return true;
    }

    /// <summary>FLDENV: a flagged exception that the loaded FCW unmasks becomes pending (reported by the next waiting instruction).</summary>
    public static bool LoadEnvironment(CpuContext c, ref Op op)
    {
        bool wide = op.Aux != 0;
        int size = X87Environment.EnvironmentSize(wide);
        byte* image = stackalloc byte[MaxImage];
        if (!c.ReadBytes(Addressing.Linear(c, ref op), image, size)) return false;
        X87Environment.Load(c, new ReadOnlySpan<byte>(image, size), wide, Real(c));
        Fpu.Commit(c, (X87Status)c.Fsw);
        return true;
    }

    /// <summary>FNSAVE: environment and ST(0)-ST(7), then the FPU is reinitialised as by FNINIT.</summary>
    public static bool Save(CpuContext c, ref Op op)
    {
        if (!Wait(c, ref op)) return false;
        bool wide = op.Aux != 0;
        int env = X87Environment.EnvironmentSize(wide);
        byte* image = stackalloc byte[MaxImage];
        var span = new Span<byte>(image, env + 80);
        X87Environment.Store(c, span, wide, Real(c));
        for (int i = 0; i < 8; i++) c.St(i).WriteBytes(span.Slice(env + 10 * i, 10));
        if (!c.WriteBytes(Addressing.Linear(c, ref op), image, env + 80)) return false;
        c.FpuInit();
        return true;
    }

    /// <summary>FRSTOR: the registers are read in stack order relative to the loaded TOP.</summary>
    public static bool Restore(CpuContext c, ref Op op)
    {
        bool wide = op.Aux != 0;
        int env = X87Environment.EnvironmentSize(wide);
        byte* image = stackalloc byte[MaxImage];
        if (!c.ReadBytes(Addressing.Linear(c, ref op), image, env + 80)) return false;
        var span = new ReadOnlySpan<byte>(image, env + 80);
        X87Environment.Load(c, span, wide, Real(c));
        for (int i = 0; i < 8; i++) c.St(i) = Float80.FromBytes(span.Slice(env + 10 * i, 10));
        Fpu.Commit(c, (X87Status)c.Fsw);
        return true;
    }
}
