using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions;

/// <summary>BT/BTS/BTR/BTC, BSF/BSR, BSWAP (Intel SDM Vol. 2A).</summary>
public static unsafe class BitOps
{
    public enum BitTest : byte { Bt, Bts, Btr, Btc }

    private static ulong Apply(BitTest kind, ulong value, ulong bit) => kind switch
    {
        BitTest.Bts => value | bit,
        BitTest.Btr => value & ~bit,
        BitTest.Btc => value ^ bit,
        _ => value,
    };

    /// <summary>BT* only set CF; ZF is kept and OF/SF/AF/PF, undefined, are kept too.</summary>
    private static void SetCarry(CpuContext c, bool carry)
    {
        c.MaterializeFlags();
        c.Rflags = (c.Rflags & ~FlagBits.CF) | (carry ? FlagBits.CF : 0);
    }

    public static bool BitReg<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        TSrc.Get<T>(c, ref op, out ulong offset);
        ulong value = c.GetReg<T>(op.R0);
        ulong bit = 1UL << (int)(offset & (ulong)(Sz<T>.Bits - 1));
        var kind = (BitTest)op.Cond;
        if (kind != BitTest.Bt) c.SetReg<T>(op.R0, Apply(kind, value, bit));
        SetCarry(c, (value & bit) != 0);
        return true;
    }

    /// <summary>
    /// Memory operand: a register bit offset is signed and may address outside the operand (the operand-sized
    /// word at EA + (offset >> log2(width)) * width/8); an immediate offset is taken modulo the width.
    /// </summary>
    public static bool BitMem<T>(CpuContext c, ref Op op, bool registerOffset) where T : unmanaged
    {
        ulong ea = Addressing.Effective(c, ref op);
        long offset;
        if (registerOffset)
        {
            offset = Sz<T>.SignExtend(c.GetReg<T>(op.R1));
            ea = (ea + (ulong)((offset >> (3 + Sz<T>.Log2)) << Sz<T>.Log2)) & (ulong.MaxValue >> op.AddrShift);
        }
        else offset = (long)op.Imm;
        ulong lin = Addressing.Linear(c, op.Seg, ea);
        if (!c.Read<T>(lin, out ulong value)) return false;
        ulong bit = 1UL << (int)(offset & (Sz<T>.Bits - 1));
        var kind = (BitTest)op.Cond;
        if (kind != BitTest.Bt && !c.Write<T>(lin, Apply(kind, value, bit))) return false;
        SetCarry(c, (value & bit) != 0);
        return true;
    }

    public static bool BitMemReg<T>(CpuContext c, ref Op op) where T : unmanaged => BitMem<T>(c, ref op, true);

    public static bool BitMemImm<T>(CpuContext c, ref Op op) where T : unmanaged => BitMem<T>(c, ref op, false);

    /// <summary>
    /// BSF/BSR (Cond 0/1): a zero source sets ZF and leaves the destination unchanged (what AMD documents and
    /// Intel processors do); CF/OF/SF/AF/PF are undefined and kept.
    /// </summary>
    public static bool BitScan<T, TSrc>(CpuContext c, ref Op op) where T : unmanaged where TSrc : struct, ISource
    {
        if (!TSrc.Get<T>(c, ref op, out ulong v)) return false;
        c.MaterializeFlags();
        if (v == 0)
        {
            c.Rflags |= FlagBits.ZF;
            return true;
        }
        c.Rflags &= ~FlagBits.ZF;
        ulong index = op.Cond == 0 ? (ulong)global::System.Numerics.BitOperations.TrailingZeroCount(v)
            : (ulong)(63 - global::System.Numerics.BitOperations.LeadingZeroCount(v));
        c.SetReg<T>(op.R0, index);
        return true;
    }

    /// <summary>BSWAP r16 is undefined; this engine clears the register's low word, as Intel and AMD parts do.</summary>
    public static bool Bswap<T>(CpuContext c, ref Op op) where T : unmanaged
    {
        ulong v = c.GetReg<T>(op.R0);
        ulong r = typeof(T) == typeof(ulong) ? global::System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(v)
            : typeof(T) == typeof(uint) ? global::System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)v) : 0;
        c.SetReg<T>(op.R0, r);
        return true;
    }

    internal static bool Bind(in Instruction ins, ref Op op, int size)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Bt: case Mnemonic.Bts: case Mnemonic.Btr: case Mnemonic.Btc:
            {
                op.Cond = (byte)(ins.Mnemonic switch
                {
                    Mnemonic.Bts => BitTest.Bts, Mnemonic.Btr => BitTest.Btr, Mnemonic.Btc => BitTest.Btc, _ => BitTest.Bt,
                });
                op.Handler = OperandForms.Of(ins) switch
                {
                    OperandForm.RegReg => size switch
                    {
                        2 => &BitReg<ushort, FromReg>, 4 => &BitReg<uint, FromReg>, _ => &BitReg<ulong, FromReg>,
                    },
                    OperandForm.RegImm => size switch
                    {
                        2 => &BitReg<ushort, FromImm>, 4 => &BitReg<uint, FromImm>, _ => &BitReg<ulong, FromImm>,
                    },
                    OperandForm.MemReg => size switch
                    {
                        2 => &BitMemReg<ushort>, 4 => &BitMemReg<uint>, _ => &BitMemReg<ulong>,
                    },
                    OperandForm.MemImm => size switch
                    {
                        2 => &BitMemImm<ushort>, 4 => &BitMemImm<uint>, _ => &BitMemImm<ulong>,
                    },
                    _ => null,
                };
                return op.Handler != null;
            }
            // CPUID advertises neither BMI1 nor LZCNT, so F3 0F BC/BD run as BSF/BSR, as on the processors before
            // them (Intel SDM Vol. 2B TZCNT/LZCNT); Linux's __ffs uses "rep bsf" for exactly this reason.
            case Mnemonic.Bsf: case Mnemonic.Bsr: case Mnemonic.Tzcnt: case Mnemonic.Lzcnt:
                op.Cond = ins.Mnemonic is Mnemonic.Bsf or Mnemonic.Tzcnt ? (byte)0 : (byte)1;
                op.Handler = (size, ins.Op1Kind == OpKind.Memory) switch
                {
                    (2, false) => &BitScan<ushort, FromReg>, (2, true) => &BitScan<ushort, FromMem>,
                    (4, false) => &BitScan<uint, FromReg>, (4, true) => &BitScan<uint, FromMem>,
                    (_, false) => &BitScan<ulong, FromReg>, _ => &BitScan<ulong, FromMem>,
                };
                return true;
            case Mnemonic.Bswap:
                op.Handler = size switch { 2 => &Bswap<ushort>, 4 => &Bswap<uint>, _ => &Bswap<ulong> };
                return true;
        }
        return false;
    }
}
