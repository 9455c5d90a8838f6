using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>
/// XCHG, XADD, CMPXCHG, CMPXCHG8B/16B (Intel SDM Vol. 2). One vCPU runs per interpreter thread, so the LOCK
/// semantics reduce to doing the read and the write within one instruction; SMP guests (P1.4) need these
/// handlers to use interlocked host operations on RAM.
/// </summary>
public static unsafe class Exchange
{
    public static bool XchgRegReg<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        ulong a = c.GetReg<T>(op.R0), b = c.GetReg<T>(op.R1);
        c.SetReg<T>(op.R0, b);
        c.SetReg<T>(op.R1, a);
        return true;
    }

    public static bool XchgMem<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        ulong lin = Addressing.Linear(c, ref op);
        if (!c.Read<T>(lin, out ulong m)) return false;
        if (!c.Write<T>(lin, c.GetReg<T>(op.R1))) return false;
        c.SetReg<T>(op.R1, m);
        return true;
    }

    /// <summary>XADD: the source gets the old destination, then the destination the sum (both may be one register).</summary>
    public static bool XaddReg<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        ulong d = c.GetReg<T>(op.R0), s = c.GetReg<T>(op.R1);
        ulong sum = d + s;
        c.SetReg<T>(op.R1, d);
        c.SetReg<T>(op.R0, sum);
        c.SetCc(LazyFlags.Make(CcKind.Add, Sz<T>.Log2), sum, d, s);
        return true;
    }

    public static bool XaddMem<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        ulong lin = Addressing.Linear(c, ref op);
        if (!c.Read<T>(lin, out ulong d)) return false;
        ulong s = c.GetReg<T>(op.R1);
        ulong sum = d + s;
        if (!c.Write<T>(lin, sum)) return false;
        c.SetReg<T>(op.R1, d);
        c.SetCc(LazyFlags.Make(CcKind.Add, Sz<T>.Log2), sum, d, s);
        return true;
    }

    /// <summary>
    /// CMPXCHG r/m, r: flags of CMP accumulator, destination. Equal: destination = source. Not equal: the
    /// accumulator gets the destination, and the destination is written back unchanged (Intel SDM Vol. 2A) -
    /// for a 32-bit register destination that write zero-extends it.
    /// </summary>
    public static bool CmpxchgReg<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        ulong acc = c.GetReg<T>(0), d = c.GetReg<T>(op.R0);
        c.SetCc(LazyFlags.Make(CcKind.Sub, Sz<T>.Log2), acc - d, acc, d);
        if (acc == d) c.SetReg<T>(op.R0, c.GetReg<T>(op.R1));
        else c.SetReg<T>(0, d);
        return true;
    }

    public static bool CmpxchgMem<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        ulong lin = Addressing.Linear(c, ref op);
        if (!c.Read<T>(lin, out ulong d)) return false;
        ulong acc = c.GetReg<T>(0);
        if (!c.Write<T>(lin, acc == d ? c.GetReg<T>(op.R1) : d)) return false;
        if (acc != d) c.SetReg<T>(0, d);
        c.SetCc(LazyFlags.Make(CcKind.Sub, Sz<T>.Log2), acc - d, acc, d);
        return true;
    }

    /// <summary>CMPXCHG8B: EDX:EAX against m64; only ZF changes.</summary>
    public static bool Cmpxchg8b(CpuContext c, ref Op op)
    {
        ulong lin = Addressing.Linear(c, ref op);
        if (!c.Read<ulong>(lin, out ulong m)) return false;
        ulong expected = (ulong)(uint)c.Gpr(2) << 32 | (uint)c.Gpr(0);
        bool equal = m == expected;
        if (!c.Write<ulong>(lin, equal ? (ulong)(uint)c.Gpr(1) << 32 | (uint)c.Gpr(3) : m)) return false;
        if (!equal)
        {
            c.SetReg<uint>(0, m);
            c.SetReg<uint>(2 * 8, m >> 32);
        }
        SetZf(c, equal);
        return true;
    }

    /// <summary>CMPXCHG16B: RDX:RAX against m128, which must be 16-byte aligned (#GP(0) otherwise).</summary>
    public static bool Cmpxchg16b(CpuContext c, ref Op op)
    {
        ulong lin = Addressing.Linear(c, ref op);
        if ((lin & 15) != 0) return c.Fault(Vectors.GeneralProtection, 0);
        if (!c.ProbeWrite(lin, 16)) return false;
        if (!c.Read<ulong>(lin, out ulong lo) || !c.Read<ulong>(lin + 8, out ulong hi)) return false;
        bool equal = lo == c.Gpr(0) && hi == c.Gpr(2);
        ulong newLo = equal ? c.Gpr(3) : lo, newHi = equal ? c.Gpr(1) : hi;
        if (!c.Write<ulong>(lin, newLo) || !c.Write<ulong>(lin + 8, newHi)) return false;
        if (!equal)
        {
            c.Gpr(0) = lo;
            c.Gpr(2) = hi;
        }
        SetZf(c, equal);
        return true;
    }

    private static void SetZf(CpuContext c, bool set)
    {
        c.MaterializeFlags();
        c.Rflags = (c.Rflags & ~FlagBits.ZF) | (set ? FlagBits.ZF : 0);
    }

    internal static bool Bind(in Instruction ins, ref Op op, int size)
    {
        bool memory = ins.Op0Kind == OpKind.Memory;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Xchg:
                if (ins.Op1Kind == OpKind.Memory)
                {
                    // xchg r, m is the same operation as xchg m, r.
                    op.R1 = op.R0;
                    memory = true;
                }
                op.Handler = (memory, size) switch
                {
                    (false, 1) => &XchgRegReg<byte>, (false, 2) => &XchgRegReg<ushort>,
                    (false, 4) => &XchgRegReg<uint>, (false, _) => &XchgRegReg<ulong>,
                    (true, 1) => &XchgMem<byte>, (true, 2) => &XchgMem<ushort>,
                    (true, 4) => &XchgMem<uint>, _ => &XchgMem<ulong>,
                };
                return true;
            case Mnemonic.Xadd:
                op.Handler = (memory, size) switch
                {
                    (false, 1) => &XaddReg<byte>, (false, 2) => &XaddReg<ushort>,
                    (false, 4) => &XaddReg<uint>, (false, _) => &XaddReg<ulong>,
                    (true, 1) => &XaddMem<byte>, (true, 2) => &XaddMem<ushort>,
                    (true, 4) => &XaddMem<uint>, _ => &XaddMem<ulong>,
                };
                return true;
            case Mnemonic.Cmpxchg:
                op.Handler = (memory, size) switch
                {
                    (false, 1) => &CmpxchgReg<byte>, (false, 2) => &CmpxchgReg<ushort>,
                    (false, 4) => &CmpxchgReg<uint>, (false, _) => &CmpxchgReg<ulong>,
                    (true, 1) => &CmpxchgMem<byte>, (true, 2) => &CmpxchgMem<ushort>,
                    (true, 4) => &CmpxchgMem<uint>, _ => &CmpxchgMem<ulong>,
                };
                return true;
            case Mnemonic.Cmpxchg8b: op.Handler = &Cmpxchg8b; return true;
            case Mnemonic.Cmpxchg16b: op.Handler = &Cmpxchg16b; return true;
        }
        return false;
    }
}
