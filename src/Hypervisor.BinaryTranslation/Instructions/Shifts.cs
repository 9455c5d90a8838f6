using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>
/// SHL/SAL/SHR/SAR (lazy flags), ROL/ROR/RCL/RCR and SHLD/SHRD (eager flags). The count is masked to 5 bits
/// (6 for 64-bit operands) and a masked count of 0 changes nothing, flags included (Intel SDM Vol. 2B SAL/SAR/SHL/SHR).
/// </summary>
public static unsafe class Shifts
{
    public enum Kind : byte { Shl, Shr, Sar, Rol, Ror, Rcl, Rcr }

    /// <summary>Where the count comes from: the immediate (including the implicit 1) or CL.</summary>
    public interface ICount
    {
        static abstract int Get(CpuContext c, ref Op op);
    }

    public struct CountImm : ICount
    {
        public static int Get(CpuContext c, ref Op op) => (int)op.Imm;
    }

    public struct CountCl : ICount
    {
        public static int Get(CpuContext c, ref Op op) => (int)c.GetReg<byte>(8);
    }

    /// <summary>The operand being shifted: operand-0 register or memory.</summary>
    public interface ITarget
    {
        static abstract bool Read<T>(CpuContext c, ref Op op, out ulong value, out ulong linear) where T : unmanaged;
        static abstract bool Write<T>(CpuContext c, ref Op op, ulong linear, ulong value) where T : unmanaged;
    }

    public struct RegTarget : ITarget
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool Read<T>(CpuContext c, ref Op op, out ulong value, out ulong linear) where T : unmanaged
        {
            linear = 0;
            value = c.GetReg<T>(op.R0);
            return true;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool Write<T>(CpuContext c, ref Op op, ulong linear, ulong value) where T : unmanaged
        {
            c.SetReg<T>(op.R0, value);
            return true;
        }
    }

    public struct MemTarget : ITarget
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool Read<T>(CpuContext c, ref Op op, out ulong value, out ulong linear) where T : unmanaged
        {
            linear = Addressing.Linear(c, ref op);
            return c.Read<T>(linear, out value);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static bool Write<T>(CpuContext c, ref Op op, ulong linear, ulong value) where T : unmanaged =>
            c.Write<T>(linear, value);
    }

    /// <summary>
    /// A masked count of 0 changes no flags, but a 32-bit register destination is still written, so its upper
    /// half is cleared (observed on AMD Zen and Intel parts; Intel SDM Vol. 1, 3.4.1.1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool KeepOperand<T, TTarget>(CpuContext c, ref Op op, ulong a) where T : unmanaged where TTarget : struct, ITarget
    {
        if (typeof(T) == typeof(uint) && typeof(TTarget) == typeof(RegTarget)) c.SetReg<uint>(op.R0, a);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MaskCount<T>(int count) where T : unmanaged => count & (typeof(T) == typeof(ulong) ? 0x3F : 0x1F);

    public static bool Shl<T, TCount, TTarget>(CpuContext c, ref Op op)
        where T : unmanaged where TCount : struct, ICount where TTarget : struct, ITarget
    {
        int n = MaskCount<T>(TCount.Get(c, ref op));
        if (!TTarget.Read<T>(c, ref op, out ulong a, out ulong lin)) return false;
        if (n == 0) return KeepOperand<T, TTarget>(c, ref op, a);
        ulong r = n >= 64 ? 0 : a << n;
        if (!TTarget.Write<T>(c, ref op, lin, r)) return false;
        c.SetCc(LazyFlags.Make(CcKind.Shl, Sz<T>.Log2), r, a << (n - 1), 0);
        return true;
    }

    public static bool Shr<T, TCount, TTarget>(CpuContext c, ref Op op)
        where T : unmanaged where TCount : struct, ICount where TTarget : struct, ITarget
    {
        int n = MaskCount<T>(TCount.Get(c, ref op));
        if (!TTarget.Read<T>(c, ref op, out ulong a, out ulong lin)) return false;
        if (n == 0) return KeepOperand<T, TTarget>(c, ref op, a);
        ulong r = a >> n;
        if (!TTarget.Write<T>(c, ref op, lin, r)) return false;
        c.SetCc(LazyFlags.Make(CcKind.Shr, Sz<T>.Log2), r, a >> (n - 1), a);
        return true;
    }

    public static bool Sar<T, TCount, TTarget>(CpuContext c, ref Op op)
        where T : unmanaged where TCount : struct, ICount where TTarget : struct, ITarget
    {
        int n = MaskCount<T>(TCount.Get(c, ref op));
        if (!TTarget.Read<T>(c, ref op, out ulong a, out ulong lin)) return false;
        if (n == 0) return KeepOperand<T, TTarget>(c, ref op, a);
        long s = Sz<T>.SignExtend(a);
        ulong r = (ulong)(s >> n);
        if (!TTarget.Write<T>(c, ref op, lin, r)) return false;
        c.SetCc(LazyFlags.Make(CcKind.Sar, Sz<T>.Log2), r, (ulong)(s >> (n - 1)), a);
        return true;
    }

    /// <summary>
    /// ROL/ROR change only CF and OF. The rotation is by count mod width, but CF/OF are updated whenever the
    /// masked count is non-zero (Intel SDM Vol. 2B RCL/RCR/ROL/ROR, "Operation").
    /// </summary>
    public static bool Rotate<T, TCount, TTarget>(CpuContext c, ref Op op)
        where T : unmanaged where TCount : struct, ICount where TTarget : struct, ITarget
    {
        int n = MaskCount<T>(TCount.Get(c, ref op));
        if (!TTarget.Read<T>(c, ref op, out ulong a, out ulong lin)) return false;
        if (n == 0) return KeepOperand<T, TTarget>(c, ref op, a);
        int bits = Sz<T>.Bits;
        ulong mask = Sz<T>.Mask, sign = Sz<T>.Sign;
        var kind = (Kind)op.Cond;
        ulong r, cf, of;
        ulong oldFlags = c.GetRflags();
        switch (kind)
        {
            case Kind.Rol:
            {
                int k = n & (bits - 1);
                r = k == 0 ? a : ((a << k) | (a >> (bits - k))) & mask;
                cf = r & 1;
                of = ((r & sign) != 0 ? 1UL : 0) ^ cf;
                break;
            }
            case Kind.Ror:
            {
                int k = n & (bits - 1);
                r = k == 0 ? a : ((a >> k) | (a << (bits - k))) & mask;
                cf = (r & sign) != 0 ? 1UL : 0;
                of = (((r ^ (r << 1)) & sign) != 0) ? 1UL : 0;
                break;
            }
            case Kind.Rcl:
            {
                int k = bits < 32 ? n % (bits + 1) : n;
                ulong carry = oldFlags & FlagBits.CF;
                var wide = ((UInt128)carry << bits) | a;
                if (k != 0) wide = ((wide << k) | (wide >> (bits + 1 - k))) & (((UInt128)1 << (bits + 1)) - 1);
                r = (ulong)wide & mask;
                cf = (ulong)(wide >> bits) & 1;
                of = ((r & sign) != 0 ? 1UL : 0) ^ cf;
                break;
            }
            default:
            {
                int k = bits < 32 ? n % (bits + 1) : n;
                ulong carry = oldFlags & FlagBits.CF;
                // OF is computed from the operand before the rotation (Intel SDM RCR: MSB(DEST) XOR CF).
                of = ((a & sign) != 0 ? 1UL : 0) ^ carry;
                var wide = ((UInt128)carry << bits) | a;
                if (k != 0) wide = ((wide >> k) | (wide << (bits + 1 - k))) & (((UInt128)1 << (bits + 1)) - 1);
                r = (ulong)wide & mask;
                cf = (ulong)(wide >> bits) & 1;
                break;
            }
        }
        if (!TTarget.Write<T>(c, ref op, lin, r)) return false;
        c.Rflags = (oldFlags & ~(FlagBits.CF | FlagBits.OF)) | cf | (of << 11);
        c.CcOp = 0;
        return true;
    }

    /// <summary>
    /// SHLD/SHRD (Intel SDM Vol. 2B): the source register fills the vacated bits. A count above the operand width
    /// (16-bit operands only) leaves result and flags undefined; this engine shifts through the 32-bit pair.
    /// </summary>
    public static bool DoubleShift<T, TCount, TTarget>(CpuContext c, ref Op op)
        where T : unmanaged where TCount : struct, ICount where TTarget : struct, ITarget
    {
        int n = MaskCount<T>(TCount.Get(c, ref op));
        if (!TTarget.Read<T>(c, ref op, out ulong a, out ulong lin)) return false;
        if (n == 0) return KeepOperand<T, TTarget>(c, ref op, a);
        int bits = Sz<T>.Bits;
        ulong mask = Sz<T>.Mask, sign = Sz<T>.Sign;
        ulong b = c.GetReg<T>(op.R1);
        bool left = op.Cond == 0;
        ulong r, cf;
        if (left && bits == 64)
        {
            r = (a << n) | (b >> (64 - n));
            cf = (a >> (64 - n)) & 1;
        }
        else if (left)
        {
            var wide = ((UInt128)a << bits) | b;
            wide <<= n;
            r = (ulong)(wide >> bits) & mask;
            cf = (ulong)(wide >> (2 * bits)) & 1;
        }
        else
        {
            var wide = ((UInt128)b << bits) | a;
            cf = (ulong)(wide >> (n - 1)) & 1;
            r = (ulong)(wide >> n) & mask;
        }
        if (!TTarget.Write<T>(c, ref op, lin, r)) return false;
        ulong f = LazyFlags.SignZeroParity(r, Sz<T>.Log2) | cf;
        if (((a ^ r) & sign) != 0) f |= FlagBits.OF;
        c.SetStatusFlags(f);
        return true;
    }

    private static OpHandler Select<TCount, TTarget>(Kind kind, int size)
        where TCount : struct, ICount where TTarget : struct, ITarget => (kind, size) switch
    {
        (Kind.Shl, 1) => &Shl<byte, TCount, TTarget>, (Kind.Shl, 2) => &Shl<ushort, TCount, TTarget>,
        (Kind.Shl, 4) => &Shl<uint, TCount, TTarget>, (Kind.Shl, _) => &Shl<ulong, TCount, TTarget>,
        (Kind.Shr, 1) => &Shr<byte, TCount, TTarget>, (Kind.Shr, 2) => &Shr<ushort, TCount, TTarget>,
        (Kind.Shr, 4) => &Shr<uint, TCount, TTarget>, (Kind.Shr, _) => &Shr<ulong, TCount, TTarget>,
        (Kind.Sar, 1) => &Sar<byte, TCount, TTarget>, (Kind.Sar, 2) => &Sar<ushort, TCount, TTarget>,
        (Kind.Sar, 4) => &Sar<uint, TCount, TTarget>, (Kind.Sar, _) => &Sar<ulong, TCount, TTarget>,
        (_, 1) => &Rotate<byte, TCount, TTarget>, (_, 2) => &Rotate<ushort, TCount, TTarget>,
        (_, 4) => &Rotate<uint, TCount, TTarget>, _ => &Rotate<ulong, TCount, TTarget>,
    };

    private static OpHandler SelectDouble<TCount, TTarget>(int size)
        where TCount : struct, ICount where TTarget : struct, ITarget => size switch
    {
        2 => &DoubleShift<ushort, TCount, TTarget>, 4 => &DoubleShift<uint, TCount, TTarget>,
        _ => &DoubleShift<ulong, TCount, TTarget>,
    };

    internal static bool Bind(in Instruction ins, ref Op op, int size)
    {
        bool memory = ins.Op0Kind == OpKind.Memory;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Shl: case Mnemonic.Sal: case Mnemonic.Shr: case Mnemonic.Sar:
            case Mnemonic.Rol: case Mnemonic.Ror: case Mnemonic.Rcl: case Mnemonic.Rcr:
            {
                var kind = ins.Mnemonic switch
                {
                    Mnemonic.Shl or Mnemonic.Sal => Kind.Shl, Mnemonic.Shr => Kind.Shr, Mnemonic.Sar => Kind.Sar,
                    Mnemonic.Rol => Kind.Rol, Mnemonic.Ror => Kind.Ror, Mnemonic.Rcl => Kind.Rcl, _ => Kind.Rcr,
                };
                op.Cond = (byte)kind;
                bool byCl = ins.Op1Kind == OpKind.Register;
                op.Handler = (byCl, memory) switch
                {
                    (false, false) => Select<CountImm, RegTarget>(kind, size),
                    (false, true) => Select<CountImm, MemTarget>(kind, size),
                    (true, false) => Select<CountCl, RegTarget>(kind, size),
                    _ => Select<CountCl, MemTarget>(kind, size),
                };
                return true;
            }
            case Mnemonic.Shld: case Mnemonic.Shrd:
            {
                op.Cond = ins.Mnemonic == Mnemonic.Shld ? (byte)0 : (byte)1;
                bool byCl = ins.Op2Kind == OpKind.Register;
                op.Handler = (byCl, memory) switch
                {
                    (false, false) => SelectDouble<CountImm, RegTarget>(size),
                    (false, true) => SelectDouble<CountImm, MemTarget>(size),
                    (true, false) => SelectDouble<CountCl, RegTarget>(size),
                    _ => SelectDouble<CountCl, MemTarget>(size),
                };
                return true;
            }
        }
        return false;
    }
}
