using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>The address size of string operands and of the count: SI/DI/CX, ESI/EDI/ECX or RSI/RDI/RCX.</summary>
public interface IAddressSize
{
    static abstract ulong Get(CpuContext c, int register);
    static abstract void Set(CpuContext c, int register, ulong value);
}

public struct Address16 : IAddressSize
{
    public static ulong Get(CpuContext c, int register) => c.GetReg<ushort>(register * 8);
    public static void Set(CpuContext c, int register, ulong value) => c.SetReg<ushort>(register * 8, value);
}

public struct Address32 : IAddressSize
{
    public static ulong Get(CpuContext c, int register) => c.GetReg<uint>(register * 8);
    public static void Set(CpuContext c, int register, ulong value) => c.SetReg<uint>(register * 8, value);
}

public struct Address64 : IAddressSize
{
    public static ulong Get(CpuContext c, int register) => c.Gpr(register);
    public static void Set(CpuContext c, int register, ulong value) => c.Gpr(register) = value;
}

/// <summary>Whether string operands are checked against their segment's limit and rights (see SegmentChecks).</summary>
public interface IStringSegmentCheck
{
    static abstract bool Ok(CpuContext c, int segment, ulong offset, int size, bool write);
}

/// <summary>Flat segments (64-bit mode, 4 GiB writable data): nothing to check, the JIT removes the call.</summary>
public struct FlatStrings : IStringSegmentCheck
{
    public static bool Ok(CpuContext c, int segment, ulong offset, int size, bool write) => true;
}

/// <summary>A segment with a limit below 4 GiB, expand-down, read-only or null: each access is checked (#GP(0)/#SS(0)).</summary>
public struct CheckedStrings : IStringSegmentCheck
{
    public static bool Ok(CpuContext c, int segment, ulong offset, int size, bool write) =>
        global::Hypervisor.BinaryTranslation.System.SegmentChecks.Within(c, segment, offset, size, !write, write);
}

/// <summary>
/// MOVS/STOS/LODS/SCAS/CMPS/INS/OUTS with REP/REPE/REPNE (Intel SDM Vol. 1, 7.3.9; Vol. 2B REP). A repeated
/// instruction runs in chunks: after <see cref="IterationsPerChunk"/> iterations it leaves RIP on itself and
/// ends the block, so interrupts and stop requests are seen during a long copy, and it resumes from the
/// registers - exactly the architectural restart point. While TF or a data breakpoint is armed a chunk is one
/// iteration (<see cref="CpuContext.RepIterationLimit"/>): the #DB trap follows the iteration that caused it.
/// Outside 64-bit mode, when DS:rSI (or its override) or ES:rDI is a segment the mode key marks for checking,
/// the instruction runs the <see cref="CheckedStrings"/> instantiation, which checks every iteration's operands
/// before touching memory, as hardware does: a REP form that leaves the segment faults on that iteration with
/// the earlier iterations done (rSI/rDI/rCX at the faulting element). ES cannot be overridden. The choice is one
/// test of the mode key per executed instruction, so flat code pays nothing per iteration.
/// </summary>
public static unsafe class Strings
{
    public enum Kind : byte { Movs, Stos, Lods, Scas, Cmps, Ins, Outs }

    public const int IterationsPerChunk = 16384;

    private const int Rsi = 6, Rdi = 7, Rcx = 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Step<T, TA, TC>(CpuContext c, ref Op op, Kind kind)
        where T : unmanaged where TA : struct, IAddressSize where TC : struct, IStringSegmentCheck
    {
        const int es = (int)SegmentIndex.Es;
        ulong delta = c.DirectionDown ? (ulong)(-sizeof(T)) : (ulong)sizeof(T);
        switch (kind)
        {
            case Kind.Movs:
            {
                ulong si = TA.Get(c, Rsi), di = TA.Get(c, Rdi);
                if (!TC.Ok(c, op.Seg, si, sizeof(T), false) || !TC.Ok(c, es, di, sizeof(T), true)) return false;
                if (!c.Read<T>(Addressing.Linear(c, op.Seg, si), out ulong v)) return false;
                if (!c.Write<T>(Addressing.Linear(c, (int)SegmentIndex.Es, di), v)) return false;
                TA.Set(c, Rsi, si + delta);
                TA.Set(c, Rdi, di + delta);
                return true;
            }
            case Kind.Stos:
            {
                ulong di = TA.Get(c, Rdi);
                if (!TC.Ok(c, es, di, sizeof(T), true)) return false;
                if (!c.Write<T>(Addressing.Linear(c, (int)SegmentIndex.Es, di), c.GetReg<T>(0))) return false;
                TA.Set(c, Rdi, di + delta);
                return true;
            }
            case Kind.Lods:
            {
                ulong si = TA.Get(c, Rsi);
                if (!TC.Ok(c, op.Seg, si, sizeof(T), false)) return false;
                if (!c.Read<T>(Addressing.Linear(c, op.Seg, si), out ulong v)) return false;
                c.SetReg<T>(0, v);
                TA.Set(c, Rsi, si + delta);
                return true;
            }
            case Kind.Scas:
            {
                ulong di = TA.Get(c, Rdi);
                if (!TC.Ok(c, es, di, sizeof(T), false)) return false;
                if (!c.Read<T>(Addressing.Linear(c, (int)SegmentIndex.Es, di), out ulong m)) return false;
                ulong a = c.GetReg<T>(0);
                c.SetCc(LazyFlags.Make(CcKind.Sub, Sz<T>.Log2), a - m, a, m);
                TA.Set(c, Rdi, di + delta);
                return true;
            }
            case Kind.Cmps:
            {
                ulong si = TA.Get(c, Rsi), di = TA.Get(c, Rdi);
                if (!TC.Ok(c, op.Seg, si, sizeof(T), false) || !TC.Ok(c, es, di, sizeof(T), false)) return false;
                if (!c.Read<T>(Addressing.Linear(c, op.Seg, si), out ulong a)) return false;
                if (!c.Read<T>(Addressing.Linear(c, (int)SegmentIndex.Es, di), out ulong b)) return false;
                c.SetCc(LazyFlags.Make(CcKind.Sub, Sz<T>.Log2), a - b, a, b);
                TA.Set(c, Rsi, si + delta);
                TA.Set(c, Rdi, di + delta);
                return true;
            }
            case Kind.Ins:
            {
                if (!global::Hypervisor.BinaryTranslation.System.PortIo.Check(c, (ushort)c.Gpr(2), sizeof(T))) return false;
                ulong di = TA.Get(c, Rdi);
                if (!TC.Ok(c, es, di, sizeof(T), true)) return false;
                ulong lin = Addressing.Linear(c, (int)SegmentIndex.Es, di);
                // The destination is checked before the port is read: a port read can have side effects.
                if (!c.ProbeWrite(lin, sizeof(T))) return false;
                ulong v = 0;
                c.PortRead((ushort)c.Gpr(2), new Span<byte>(&v, sizeof(T)));
                if (!c.Write<T>(lin, v)) return false;
                TA.Set(c, Rdi, di + delta);
                return true;
            }
            default:
            {
                if (!global::Hypervisor.BinaryTranslation.System.PortIo.Check(c, (ushort)c.Gpr(2), sizeof(T))) return false;
                ulong si = TA.Get(c, Rsi);
                if (!TC.Ok(c, op.Seg, si, sizeof(T), false)) return false;
                if (!c.Read<T>(Addressing.Linear(c, op.Seg, si), out ulong v)) return false;
                c.PortWrite((ushort)c.Gpr(2), new ReadOnlySpan<byte>(&v, sizeof(T)));
                TA.Set(c, Rsi, si + delta);
                return true;
            }
        }
    }

    /// <summary>Whether this string instruction's segments (its source segment and ES) need checks in the current mode.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Checked(CpuContext c, ref Op op) =>
        (c.CheckedSegments & (1 << op.Seg | 1 << (int)SegmentIndex.Es)) != 0;

    public static bool Once<T, TA>(CpuContext c, ref Op op) where T : unmanaged where TA : struct, IAddressSize =>
        Checked(c, ref op) ? Step<T, TA, CheckedStrings>(c, ref op, (Kind)op.Cond) : Step<T, TA, FlatStrings>(c, ref op, (Kind)op.Cond);

    /// <summary>Aux = 1: REP/REPE, Aux = 2: REPNE. SCAS/CMPS also stop on the ZF condition.</summary>
    public static bool Repeat<T, TA>(CpuContext c, ref Op op) where T : unmanaged where TA : struct, IAddressSize =>
        Checked(c, ref op) ? Repeat<T, TA, CheckedStrings>(c, ref op) : Repeat<T, TA, FlatStrings>(c, ref op);

    private static bool Repeat<T, TA, TC>(CpuContext c, ref Op op)
        where T : unmanaged where TA : struct, IAddressSize where TC : struct, IStringSegmentCheck
    {
        var kind = (Kind)op.Cond;
        bool compares = kind is Kind.Scas or Kind.Cmps;
        int limit = c.RepIterationLimit;
        for (int i = 0; i < limit; i++)
        {
            ulong count = TA.Get(c, Rcx);
            if (count == 0) return true;
            if (!Step<T, TA, TC>(c, ref op, kind)) return false;
            TA.Set(c, Rcx, count - 1);
            if (compares)
            {
                bool zf = (c.CcResult & Sz<T>.Mask) == 0;
                if (op.Aux == 1 ? !zf : zf) return true;
            }
        }
        if (TA.Get(c, Rcx) == 0) return true;
        // Between iterations: an event taken here pushes RF = 1, so an instruction breakpoint on the string
        // instruction does not fire again when it resumes (SDM Vol. 3, 19.3.1.1).
        c.Rip -= op.Length;
        c.Rflags |= FlagBits.RF;
        return false;
    }

    private static OpHandler Select<TA>(int size, bool repeat) where TA : struct, IAddressSize => (size, repeat) switch
    {
        (1, false) => &Once<byte, TA>, (2, false) => &Once<ushort, TA>,
        (4, false) => &Once<uint, TA>, (_, false) => &Once<ulong, TA>,
        (1, true) => &Repeat<byte, TA>, (2, true) => &Repeat<ushort, TA>,
        (4, true) => &Repeat<uint, TA>, _ => &Repeat<ulong, TA>,
    };

    private static int StringAddressBits(in Instruction ins)
    {
        for (int i = 0; i < ins.OpCount; i++)
        {
            switch (ins.GetOpKind(i))
            {
                case OpKind.MemorySegSI: case OpKind.MemoryESDI: case OpKind.MemorySegDI: return 16;
                case OpKind.MemorySegESI: case OpKind.MemoryESEDI: case OpKind.MemorySegEDI: return 32;
                case OpKind.MemorySegRSI: case OpKind.MemoryESRDI: case OpKind.MemorySegRDI: return 64;
            }
        }
        return 0;
    }

    internal static bool Bind(in Instruction ins, ref Op op, in BindContext ctx)
    {
        Kind kind;
        int size;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Movsb: kind = Kind.Movs; size = 1; break;
            case Mnemonic.Movsw: kind = Kind.Movs; size = 2; break;
            case Mnemonic.Movsd when ins.Code == Code.Movsd_m32_m32: kind = Kind.Movs; size = 4; break;
            case Mnemonic.Movsq: kind = Kind.Movs; size = 8; break;
            case Mnemonic.Stosb: kind = Kind.Stos; size = 1; break;
            case Mnemonic.Stosw: kind = Kind.Stos; size = 2; break;
            case Mnemonic.Stosd: kind = Kind.Stos; size = 4; break;
            case Mnemonic.Stosq: kind = Kind.Stos; size = 8; break;
            case Mnemonic.Lodsb: kind = Kind.Lods; size = 1; break;
            case Mnemonic.Lodsw: kind = Kind.Lods; size = 2; break;
            case Mnemonic.Lodsd: kind = Kind.Lods; size = 4; break;
            case Mnemonic.Lodsq: kind = Kind.Lods; size = 8; break;
            case Mnemonic.Scasb: kind = Kind.Scas; size = 1; break;
            case Mnemonic.Scasw: kind = Kind.Scas; size = 2; break;
            case Mnemonic.Scasd: kind = Kind.Scas; size = 4; break;
            case Mnemonic.Scasq: kind = Kind.Scas; size = 8; break;
            case Mnemonic.Cmpsb: kind = Kind.Cmps; size = 1; break;
            case Mnemonic.Cmpsw: kind = Kind.Cmps; size = 2; break;
            case Mnemonic.Cmpsd when ins.Code == Code.Cmpsd_m32_m32: kind = Kind.Cmps; size = 4; break;
            case Mnemonic.Cmpsq: kind = Kind.Cmps; size = 8; break;
            case Mnemonic.Insb: kind = Kind.Ins; size = 1; break;
            case Mnemonic.Insw: kind = Kind.Ins; size = 2; break;
            case Mnemonic.Insd: kind = Kind.Ins; size = 4; break;
            case Mnemonic.Outsb: kind = Kind.Outs; size = 1; break;
            case Mnemonic.Outsw: kind = Kind.Outs; size = 2; break;
            case Mnemonic.Outsd: kind = Kind.Outs; size = 4; break;
            default: return false;
        }
        int addressBits = StringAddressBits(ins);
        if (addressBits == 0) return false;
        op.Cond = (byte)kind;
        op.Seg = (byte)(ins.MemorySegment - Register.ES);
        bool repeat = ins.HasRepPrefix || ins.HasRepnePrefix;
        // REPNE on a non-comparing string instruction repeats like REP (what Intel and AMD processors do).
        op.Aux = !repeat ? (byte)0 : ins.HasRepnePrefix && kind is Kind.Scas or Kind.Cmps ? (byte)2 : (byte)1;
        op.Handler = addressBits switch
        {
            16 => Select<Address16>(size, repeat),
            32 => Select<Address32>(size, repeat),
            _ => Select<Address64>(size, repeat),
        };
        return true;
    }
}
