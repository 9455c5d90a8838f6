using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Tests.Differential;

/// <summary>
/// What the SDM leaves undefined, per instruction and operands (Intel SDM Vol. 2, each instruction's "Flags
/// Affected"), and the #DE condition of DIV/IDIV computed independently of the engine. Only these are masked;
/// everything else is compared bit for bit.
/// </summary>
public static class UndefinedBehaviour
{
    private const ulong CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
    private const ulong Status = CF | PF | AF | ZF | SF | OF;

    public static void Apply(TestCase t, ulong data)
    {
        var ins = t.Instruction;
        int size = OperandBytes(ins);
        switch (ins.Mnemonic)
        {
            case Mnemonic.And: case Mnemonic.Or: case Mnemonic.Xor: case Mnemonic.Test:
                t.UndefinedFlags = AF;
                break;
            case Mnemonic.Mul: case Mnemonic.Imul:
                t.UndefinedFlags = SF | ZF | AF | PF;
                break;
            case Mnemonic.Div: case Mnemonic.Idiv:
                t.UndefinedFlags = Status;
                t.ExpectDivideError = DivideFaults(t, data, size);
                break;
            case Mnemonic.Bt: case Mnemonic.Bts: case Mnemonic.Btr: case Mnemonic.Btc:
                t.UndefinedFlags = OF | SF | AF | PF;
                break;
            case Mnemonic.Bsf: case Mnemonic.Bsr:
                t.UndefinedFlags = CF | OF | SF | AF | PF;
                break;
            case Mnemonic.Shl: case Mnemonic.Sal: case Mnemonic.Shr: case Mnemonic.Sar:
            {
                int count = Count(t, size);
                if (count == 0) break;
                t.UndefinedFlags = AF | (count != 1 ? OF : 0);
                if (count >= size * 8 && ins.Mnemonic != Mnemonic.Sar) t.UndefinedFlags |= CF;
                break;
            }
            case Mnemonic.Rol: case Mnemonic.Ror: case Mnemonic.Rcl: case Mnemonic.Rcr:
                if (Count(t, size) != 1) t.UndefinedFlags = OF;
                break;
            case Mnemonic.Shld: case Mnemonic.Shrd:
            {
                int count = Count(t, size);
                if (count == 0) break;
                t.UndefinedFlags = AF | (count != 1 ? OF : 0);
                if (count > size * 8)
                {
                    // 16-bit operand with count 17..31: result and flags undefined.
                    t.UndefinedFlags = Status;
                    if (ins.Op0Kind == OpKind.Register)
                        t.UndefinedRegisters = (ushort)(1 << (ins.Op0Register.GetFullRegister() - Register.RAX));
                    else t.UndefinedMemory = true;
                }
                break;
            }
        }
    }

    private static int OperandBytes(in Instruction ins)
    {
        if (ins.Op0Kind == OpKind.Register && ins.Op0Register.IsGPR()) return ins.Op0Register.GetSize();
        if (ins.OpCount > 0 && ins.Op0Kind == OpKind.Memory) return ins.MemorySize.GetSize();
        return 8;
    }

    /// <summary>The masked shift/rotate count (5 bits, 6 for 64-bit operands).</summary>
    private static int Count(TestCase t, int size)
    {
        var ins = t.Instruction;
        int last = ins.OpCount - 1;
        int raw = ins.GetOpKind(last) == OpKind.Register ? (int)(t.Gprs[1] & 0xFF) : (int)ins.GetImmediate(last);
        return raw & (size == 8 ? 0x3F : 0x1F);
    }

    public static ulong EffectiveAddress(TestCase t)
    {
        var ins = t.Instruction;
        if (ins.MemoryBase == Register.RIP) return ins.MemoryDisplacement64;
        ulong ea = (ins.MemoryBase == Register.None ? 0 : t.Gprs[ins.MemoryBase.GetFullRegister() - Register.RAX])
                   + (ins.MemoryIndex == Register.None ? 0
                       : t.Gprs[ins.MemoryIndex.GetFullRegister() - Register.RAX] * (ulong)ins.MemoryIndexScale)
                   + ins.MemoryDisplacement64;
        return ins.MemoryBase.GetSize() == 4 || ins.MemoryIndex.GetSize() == 4 ? (uint)ea : ea;
    }

    private static bool DivideFaults(TestCase t, ulong data, int size)
    {
        var ins = t.Instruction;
        ulong divisor;
        if (ins.Op0Kind == OpKind.Register)
        {
            var r = ins.Op0Register;
            ulong full = t.Gprs[r.GetFullRegister() - Register.RAX];
            divisor = r >= Register.AH && r <= Register.BH ? (full >> 8) & 0xFF : full;
        }
        else divisor = BitConverter.ToUInt64(t.Data, (int)(EffectiveAddress(t) - data));
        int bits = size * 8;
        ulong mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        divisor &= mask;
        if (divisor == 0) return true;
        ulong rax = t.Gprs[0], rdx = t.Gprs[2];
        bool signed = ins.Mnemonic == Mnemonic.Idiv;
        global::System.Numerics.BigInteger dividend = size == 1
            ? (signed ? (short)(ushort)rax : (ushort)rax)
            : Compose(rdx & mask, rax & mask, bits, signed);
        global::System.Numerics.BigInteger d = signed ? SignExtend(divisor, bits) : divisor;
        var q = global::System.Numerics.BigInteger.Divide(dividend, d);
        global::System.Numerics.BigInteger min = signed ? -(global::System.Numerics.BigInteger.One << (bits - 1)) : 0;
        global::System.Numerics.BigInteger max = signed ? (global::System.Numerics.BigInteger.One << (bits - 1)) - 1
            : (global::System.Numerics.BigInteger.One << bits) - 1;
        return q < min || q > max;
    }

    private static global::System.Numerics.BigInteger Compose(ulong high, ulong low, int bits, bool signed)
    {
        var v = ((global::System.Numerics.BigInteger)high << bits) | low;
        if (signed && (high >> (bits - 1) & 1) != 0) v -= global::System.Numerics.BigInteger.One << (2 * bits);
        return v;
    }

    private static global::System.Numerics.BigInteger SignExtend(ulong v, int bits) =>
        (v >> (bits - 1) & 1) != 0 ? (global::System.Numerics.BigInteger)v - (global::System.Numerics.BigInteger.One << bits) : v;
}
