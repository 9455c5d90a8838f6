using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Tests.Differential;

/// <summary>
/// Builds a random instance of an instruction form: registers (never RSP as a free operand: it stays on the
/// test stack), edge-case and random operand values, memory operands aimed into the data area, branch targets
/// at the landing pad, and the undefined-flag mask of the SDM for the operands chosen.
/// </summary>
public sealed class InstructionGenerator(ulong slot, ulong pad, ulong data, ulong stackTop, int seed)
{
    private readonly Random _rng = new(seed);

    private static readonly ulong[] Edges =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue, ulong.MaxValue - 1,
        0x0F0F_0F0F_0F0F_0F0F, 0x5555_5555_5555_5555, 0x8080_8080_8080_8080, 9, 10, 0x99, 0x0A0A,
    ];

    public ulong Value()
    {
        switch (_rng.Next(8))
        {
            case 0: case 1: return Edges[_rng.Next(Edges.Length)];
            case 2: return (ulong)_rng.Next(-40, 70);
            case 3: return 1UL << _rng.Next(64);
            case 4: return Edges[_rng.Next(Edges.Length)] ^ (ulong)_rng.NextInt64();
            default: return (ulong)_rng.NextInt64() ^ ((ulong)_rng.Next() << 33);
        }
    }

    private Register RandomGpr(int size, bool avoidStack = true, Register exclude = Register.None)
    {
        while (true)
        {
            int n = _rng.Next(16);
            if (avoidStack && n == 4) continue;
            Register r = size switch
            {
                1 => _rng.Next(4) == 0 && n < 4 ? Register.AH + n : Register.AL + n,
                2 => Register.AX + n,
                4 => Register.EAX + n,
                _ => Register.RAX + n,
            };
            if (size == 1 && n >= 4 && n < 8) r = Register.SPL + (n - 4);
            if (r.GetFullRegister() == exclude.GetFullRegister() && exclude != Register.None) continue;
            if (r == Register.SPL) continue;
            return r;
        }
    }

    public TestCase? Generate(Code code)
    {
        var oc = code.ToOpCode();
        var mnemonic = code.Mnemonic();
        var gprs = new ulong[16];
        for (int i = 0; i < 16; i++) gprs[i] = Value();
        gprs[4] = stackTop - (ulong)(_rng.Next(4) * 8);
        var dataBytes = new byte[NativeRunner.DataSize];
        _rng.NextBytes(dataBytes);
        var stackBytes = new byte[NativeRunner.StackImageSize];
        _rng.NextBytes(stackBytes);

        var operands = new List<object>();
        Register memBase = Register.None;
        ulong memTarget = 0;
        for (int i = 0; i < oc.OpCount; i++)
        {
            var kind = oc.GetOpKind(i);
            switch (kind)
            {
                case OpCodeOperandKind.r8_reg: case OpCodeOperandKind.r8_opcode: operands.Add(RandomGpr(1)); break;
                case OpCodeOperandKind.r16_reg: case OpCodeOperandKind.r16_opcode: case OpCodeOperandKind.r16_rm:
                    operands.Add(RandomGpr(2)); break;
                case OpCodeOperandKind.r32_reg: case OpCodeOperandKind.r32_opcode: case OpCodeOperandKind.r32_rm:
                    operands.Add(RandomGpr(4)); break;
                case OpCodeOperandKind.r64_reg: case OpCodeOperandKind.r64_opcode: case OpCodeOperandKind.r64_rm:
                    operands.Add(RandomGpr(8)); break;
                case OpCodeOperandKind.r8_or_mem: case OpCodeOperandKind.r16_or_mem:
                case OpCodeOperandKind.r32_or_mem: case OpCodeOperandKind.r64_or_mem:
                {
                    int size = kind switch
                    {
                        OpCodeOperandKind.r8_or_mem => 1, OpCodeOperandKind.r16_or_mem => 2,
                        OpCodeOperandKind.r32_or_mem => 4, _ => 8,
                    };
                    if (_rng.Next(2) == 0) operands.Add(RandomGpr(size));
                    else operands.Add(MemoryPlaceholder.Instance);
                    break;
                }
                case OpCodeOperandKind.mem: operands.Add(MemoryPlaceholder.Instance); break;
                case OpCodeOperandKind.st0: operands.Add(Register.ST0); break;
                case OpCodeOperandKind.sti_opcode: operands.Add(Register.ST0 + _rng.Next(8)); break;
                case OpCodeOperandKind.xmm_reg: case OpCodeOperandKind.xmm_rm: operands.Add(Register.XMM0 + _rng.Next(16)); break;
                case OpCodeOperandKind.xmm_or_mem:
                    operands.Add(_rng.Next(2) == 0 ? Register.XMM0 + _rng.Next(16) : MemoryPlaceholder.Instance);
                    break;
                case OpCodeOperandKind.mm_reg: case OpCodeOperandKind.mm_rm: operands.Add(Register.MM0 + _rng.Next(8)); break;
                case OpCodeOperandKind.mm_or_mem:
                    operands.Add(_rng.Next(2) == 0 ? Register.MM0 + _rng.Next(8) : MemoryPlaceholder.Instance);
                    break;
                case OpCodeOperandKind.seg_rDI: break;
                case OpCodeOperandKind.mem_offs: operands.Add(new MemoryOperand(Register.None, (long)(data + (ulong)_rng.Next(0x100, 0x1000)), 8)); break;
                case OpCodeOperandKind.imm8_const_1: operands.Add(1); break;
                case OpCodeOperandKind.imm8:
                    operands.Add(_rng.Next(3) == 0 ? _rng.Next(0, 70) : _rng.Next(0, 256)); break;
                case OpCodeOperandKind.imm8sex16: case OpCodeOperandKind.imm8sex32: case OpCodeOperandKind.imm8sex64:
                    operands.Add((int)(sbyte)Value()); break;
                case OpCodeOperandKind.imm16:
                    // ENTER's frame must stay inside the test stack: AMD parts touch the final stack pointer.
                    operands.Add(mnemonic == Mnemonic.Enter ? _rng.Next(0, 0x800) : (int)(ushort)Value());
                    break;
                case OpCodeOperandKind.imm32: case OpCodeOperandKind.imm32sex64: operands.Add((int)(uint)Value()); break;
                case OpCodeOperandKind.imm64: operands.Add((long)Value()); break;
                case OpCodeOperandKind.al: operands.Add(Register.AL); break;
                case OpCodeOperandKind.ax: operands.Add(Register.AX); break;
                case OpCodeOperandKind.eax: operands.Add(Register.EAX); break;
                case OpCodeOperandKind.rax: operands.Add(Register.RAX); break;
                case OpCodeOperandKind.cl:
                    operands.Add(Register.CL);
                    if (_rng.Next(2) == 0) gprs[1] = (gprs[1] & ~0xFFUL) | (ulong)(uint)_rng.Next(0, 70);
                    break;
                case OpCodeOperandKind.br64_1: case OpCodeOperandKind.br64_4: operands.Add(new Branch()); break;
                case OpCodeOperandKind.seg_rSI: case OpCodeOperandKind.es_rDI: case OpCodeOperandKind.seg_rBX_al: break;
                default: return null;
            }
        }

        // Memory operand: [base + index*scale + disp] landing in the data area.
        int memIndex = operands.FindIndex(o => o is MemoryPlaceholder);
        if (memIndex >= 0)
        {
            bool fx = mnemonic is Mnemonic.Fxsave or Mnemonic.Fxsave64 or Mnemonic.Fxrstor or Mnemonic.Fxrstor64;
            ulong offset = (ulong)_rng.Next(0x100, NativeRunner.DataSize - (fx ? 0x300 : 0x100));
            // Legacy SSE memory operands fault natively when misaligned: only the U forms get odd addresses.
            bool unalignedOk = mnemonic is Mnemonic.Movups or Mnemonic.Movupd or Mnemonic.Movdqu;
            if (mnemonic == Mnemonic.Cmpxchg16b || fx || IsSse(code) && !(unalignedOk && _rng.Next(2) == 0)) offset &= ~15UL;
            memTarget = data + offset;
            operands[memIndex] = MakeMemory(gprs, memTarget, operands, ImplicitRegisters(mnemonic), out memBase);
        }

        var instruction = Build(code, operands);
        if (instruction == null) return null;
        var ins = instruction.Value;

        // Implicit operands that must point into the test area.
        FixImplicit(ins, mnemonic, gprs, dataBytes, stackBytes, memTarget, memBase);

        byte[] bytes;
        try
        {
            var writer = new ListWriter();
            var encoder = Encoder.Create(64, writer);
            if (!encoder.TryEncode(ins, slot, out _, out _)) return null;
            bytes = writer.Bytes.ToArray();
        }
        catch (EncoderException)
        {
            return null;
        }

        ulong flags = (ulong)_rng.Next() & (0xFD5UL & ~0x100UL) | 0x202;
        var fxImage = new byte[512];
        fxImage[0] = 0x7F;
        fxImage[1] = 0x03;
        // MXCSR: all exceptions masked (an unmasked one would trap the host process), random sticky flags,
        // rounding control, DAZ and FTZ.
        uint mxcsr = 0x1F80u | (uint)_rng.Next(64) | (uint)_rng.Next(4) << 13 | (uint)_rng.Next(2) << 6 | (uint)_rng.Next(2) << 15;
        BitConverter.TryWriteBytes(fxImage.AsSpan(24), mxcsr);
        for (int i = 160; i < 416; i += 8) BitConverter.TryWriteBytes(fxImage.AsSpan(i), FloatBits());
        RandomX87(fxImage);
        if (IsMmx(code)) RandomMmx(fxImage, dataBytes, memTarget == 0 ? -1 : (int)(memTarget - data));
        if (mnemonic is Mnemonic.Fxrstor or Mnemonic.Fxrstor64)
        {
            // A restorable image: zero x87 part but FCW, a valid MXCSR, random XMM.
            int at = (int)(memTarget - data);
            Array.Clear(dataBytes, at, 160);
            dataBytes[at] = 0x7F;
            dataBytes[at + 1] = 0x03;
            BitConverter.TryWriteBytes(dataBytes.AsSpan(at + 24), (uint)_rng.Next(0x10000) & 0xFFBF);
        }
        X87Operands(mnemonic, ins.MemorySize, fxImage, dataBytes, memTarget == 0 ? -1 : (int)(memTarget - data));
        if (mnemonic == Mnemonic.Ldmxcsr)
            BitConverter.TryWriteBytes(dataBytes.AsSpan((int)(memTarget - data)), (uint)_rng.Next(0x10000) & 0xFFBF);
        var test = new TestCase
        {
            Instruction = ins,
            Code = bytes,
            Data = dataBytes,
            Stack = stackBytes,
            Rflags = flags,
            FxSave = fxImage,
        };
        Array.Copy(gprs, test.Gprs, 16);
        test.X87UlpTolerance = mnemonic is Mnemonic.Fsin or Mnemonic.Fcos or Mnemonic.Fsincos or Mnemonic.Fptan
            or Mnemonic.Fpatan or Mnemonic.F2xm1 or Mnemonic.Fyl2x or Mnemonic.Fyl2xp1;
        if (mnemonic is Mnemonic.Fxsave or Mnemonic.Fxsave64) test.IgnoredData = ((int)(memTarget - data) + 28, 4);
        UndefinedBehaviour.Apply(test, data);
        return test;
    }

    /// <summary>
    /// A random x87 state: every exception masked (an unmasked one would trap in the host process) but random
    /// rounding and precision control, random TOP, condition codes, sticky flags and tags, and register values
    /// drawn from zeros, infinities, NaNs, denormals, unnormals, integers and random encodings.
    /// </summary>
    private void RandomX87(byte[] fx)
    {
        ushort fcw = (ushort)(0x037F & ~0xF00 | _rng.Next(16) << 8);
        if (((fcw >> 8) & 3) == 1) fcw |= 0x200;
        BitConverter.TryWriteBytes(fx.AsSpan(0), fcw);
        ushort fsw = (ushort)(_rng.Next(8) << 11 | (_rng.Next(16) & 0xF) << 8 & 0x4700 | _rng.Next(64) & 0x3F);
        BitConverter.TryWriteBytes(fx.AsSpan(2), fsw);
        fx[4] = (byte)(_rng.Next(3) == 0 ? 0xFF : _rng.Next(256));
        for (int i = 0; i < 8; i++)
        {
            var slot = fx.AsSpan(32 + 16 * i, 16);
            slot.Clear();
            ulong m;
            ushort se;
            int sign = _rng.Next(2) << 15;
            switch (_rng.Next(9))
            {
                case 0: m = 0; se = 0; break;
                case 1: m = 1UL << 63; se = 0x7FFF; break;
                case 2: m = 0xC000_0000_0000_0000 | (ulong)_rng.NextInt64() >> 2; se = 0x7FFF; break;
                case 3: m = 0x8000_0000_0000_0000 | (ulong)_rng.NextInt64() >> 3 | 1; se = 0x7FFF; break;
                case 4: m = (ulong)_rng.NextInt64() >> 1; se = 0; break;
                case 5: m = (ulong)_rng.NextInt64() >> 1; se = (ushort)_rng.Next(1, 0x7FFF); break;
                case 6: m = 1UL << 63 | (ulong)_rng.Next(16) << 59; se = (ushort)(16383 + _rng.Next(0, 12)); break;
                default: m = 1UL << 63 | (ulong)_rng.NextInt64(); se = (ushort)(16383 + _rng.Next(-80, 80)); break;
            }
            BitConverter.TryWriteBytes(slot, m);
            BitConverter.TryWriteBytes(slot[8..], (ushort)(se | sign));
        }
    }

    /// <summary>
    /// MMX operands: most registers get integer patterns in their significands (the sign/exponent bits stay
    /// random, so the all-ones written by MMX stores and the untouched ones of reads are both checked), and a
    /// memory operand gets one too.
    /// </summary>
    private void RandomMmx(byte[] fx, byte[] dataBytes, int memOffset)
    {
        for (int i = 0; i < 8; i++)
            if (_rng.Next(4) != 0) BitConverter.TryWriteBytes(fx.AsSpan(32 + 16 * i), MmxValue());
        if (memOffset >= 0 && _rng.Next(4) != 0) BitConverter.TryWriteBytes(dataBytes.AsSpan(memOffset), MmxValue());
    }

    private static readonly ushort[] LaneEdges = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0x8001, 0xFF80, 0xFFFF, 0xFFFE];

    /// <summary>A quadword of packed lanes: each word an edge value, a byte pair of edges, or random.</summary>
    private ulong MmxValue()
    {
        if (_rng.Next(4) == 0) return Value();
        ulong v = 0;
        for (int i = 0; i < 4; i++)
        {
            ulong w = _rng.Next(3) switch
            {
                0 => LaneEdges[_rng.Next(LaneEdges.Length)],
                1 => (ulong)(byte)LaneEdges[_rng.Next(LaneEdges.Length)] | (ulong)(byte)LaneEdges[_rng.Next(LaneEdges.Length)] << 8,
                _ => (ulong)_rng.Next(0x10000),
            };
            v |= w << (16 * i);
        }
        return v;
    }

    private static bool IsMmx(Code code)
    {
        var oc = code.ToOpCode();
        for (int i = 0; i < oc.OpCount; i++)
            if (oc.GetOpKind(i) is OpCodeOperandKind.mm_reg or OpCodeOperandKind.mm_rm or OpCodeOperandKind.mm_or_mem)
                return true;
        return false;
    }

    /// <summary>
    /// Operands the SDM defines for the x87 forms that take them from memory or need a domain: restorable
    /// FLDENV/FRSTOR images (all exceptions masked, no ES - an unmasked one would trap the host process - random
    /// TOP, tags, pointers and register values), mostly valid packed BCD for FBLD, and ST(0) inside the defined
    /// domains of F2XM1 (-1..1) and FYL2XP1 (|x| &lt; 1 - sqrt(2)/2), where the hardware result is undefined otherwise.
    /// </summary>
    private void X87Operands(Mnemonic mnemonic, MemorySize size, byte[] fx, byte[] data, int at)
    {
        switch (mnemonic)
        {
            case Mnemonic.Fldenv: case Mnemonic.Frstor:
            {
                if (at < 0) return;
                var regs = new byte[512];
                RandomX87(regs);
                bool wide = size is MemorySize.FpuEnv28 or MemorySize.FpuState108;
                int step = wide ? 4 : 2;
                // FCW with every exception masked (random RC, PC, reserved bits), FSW without ES/B, any tag word.
                ushort fcw = (ushort)(BitConverter.ToUInt16(regs) | 0x3F | _rng.Next(8) << 13 | _rng.Next(2) << 6);
                ushort fsw = (ushort)(BitConverter.ToUInt16(regs.AsSpan(2)) & 0x7F7F);
                BitConverter.TryWriteBytes(data.AsSpan(at), fcw);
                BitConverter.TryWriteBytes(data.AsSpan(at + step), fsw);
                BitConverter.TryWriteBytes(data.AsSpan(at + 2 * step), (ushort)_rng.Next(0x10000));
                int env = wide ? 28 : 14;
                for (int i = 0; i < 8; i++) regs.AsSpan(32 + 16 * i, 10).CopyTo(data.AsSpan(at + env + 10 * i));
                return;
            }
            case Mnemonic.Fbld:
                if (at >= 0 && _rng.Next(4) != 0)
                {
                    for (int i = 0; i < 9; i++) data[at + i] = (byte)(_rng.Next(10) << 4 | _rng.Next(10));
                    if (_rng.Next(4) == 0) data.AsSpan(at, 9 - _rng.Next(9)).Clear();
                }
                return;
            case Mnemonic.F2xm1:
                if (_rng.Next(16) == 0) SetSt0(fx, _rng.Next(2) == 0 ? 1.0 : -1.0, exact: true);
                else if (_rng.Next(4) != 0 || OutsideDomain(fx, 0x3FFF, infinityDefined: true))
                    SetSt0(fx, (_rng.NextDouble() * 2 - 1) * Math.Pow(2, -_rng.Next(0, 70)));
                return;
            case Mnemonic.Fyl2xp1:
                if (_rng.Next(4) != 0 || OutsideDomain(fx, 0x3FFD, infinityDefined: false))
                    SetSt0(fx, (_rng.NextDouble() * 2 - 1) * 0.29 * Math.Pow(2, -_rng.Next(0, 70)));
                return;
        }
    }

    /// <summary>
    /// ST(0) (ST order in the image) is a finite value with a biased exponent of at least <paramref name="limit"/>
    /// (|x| &gt;= 1 for 0x3FFF; 0x3FFD bounds FYL2XP1's |x| &lt; 1 - sqrt(2)/2 from above), an unnormal, or an
    /// infinity the instruction does not define.
    /// </summary>
    private static bool OutsideDomain(byte[] fx, int limit, bool infinityDefined)
    {
        ulong m = BitConverter.ToUInt64(fx, 32);
        int e = BitConverter.ToUInt16(fx, 40) & 0x7FFF;
        if (e == 0x7FFF) return !infinityDefined && m == 1UL << 63;
        if (e != 0 && (m >> 63) == 0) return true;
        return e >= limit && !(limit == 0x3FFF && e == 0x3FFF && m == 1UL << 63);
    }

    /// <summary>Puts a double (widened exactly, with random low significand bits) into ST(0) and tags it valid.</summary>
    private void SetSt0(byte[] fx, double value, bool exact = false)
    {
        ulong bits = (ulong)BitConverter.DoubleToInt64Bits(value);
        int e = (int)(bits >> 52 & 0x7FF);
        if (e == 0) return;
        ulong m = 1UL << 63 | (bits & 0xF_FFFF_FFFF_FFFF) << 11 | (exact ? 0u : (uint)_rng.Next(0x800));
        ushort se = (ushort)((uint)(e - 1023 + 16383) | (uint)(bits >> 63) << 15);
        BitConverter.TryWriteBytes(fx.AsSpan(32), m);
        BitConverter.TryWriteBytes(fx.AsSpan(40), se);
        int top = fx[3] >> 3 & 7;
        fx[4] |= (byte)(1 << top);
    }

    /// <summary>Eight bytes of XMM data: doubles, float pairs (normal, tiny, huge, special) or integer patterns.</summary>
    private ulong FloatBits()
    {
        double Pick() => _rng.Next(8) switch
        {
            0 => 0.0,
            1 => double.PositiveInfinity * (_rng.Next(2) * 2 - 1),
            2 => double.NaN,
            3 => 4.9e-324 * _rng.Next(1, 1000),
            4 => (_rng.NextDouble() - 0.5) * 1e300,
            5 => _rng.Next(-1000, 1000) / 8.0,
            _ => (_rng.NextDouble() - 0.5) * Math.Pow(2, _rng.Next(-1100, 1100)),
        };
        float PickF() => _rng.Next(4) == 0 ? 1e-41f * _rng.Next(1, 1000) : (float)Pick();
        return _rng.Next(3) switch
        {
            0 => (ulong)BitConverter.DoubleToInt64Bits(Pick()),
            1 => (ulong)BitConverter.SingleToUInt32Bits(PickF()) | (ulong)BitConverter.SingleToUInt32Bits(PickF()) << 32,
            _ => Value(),
        };
    }

    private static bool IsSse(Code code)
    {
        var oc = code.ToOpCode();
        for (int i = 0; i < oc.OpCount; i++)
            if (oc.GetOpKind(i) is OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm or OpCodeOperandKind.xmm_or_mem)
                return true;
        return false;
    }

    /// <summary>Registers an instruction uses without naming them: the address of its memory operand avoids them.</summary>
    private static Register[] ImplicitRegisters(Mnemonic m) => m switch
    {
        Mnemonic.Mul or Mnemonic.Imul or Mnemonic.Div or Mnemonic.Idiv => [Register.RAX, Register.RDX],
        Mnemonic.Cmpxchg => [Register.RAX],
        Mnemonic.Cmpxchg8b or Mnemonic.Cmpxchg16b => [Register.RAX, Register.RBX, Register.RCX, Register.RDX],
        Mnemonic.Rcl or Mnemonic.Rcr or Mnemonic.Rol or Mnemonic.Ror or Mnemonic.Shl or Mnemonic.Sal
            or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Shld or Mnemonic.Shrd => [Register.RCX],
        _ => [],
    };

    private MemoryOperand MakeMemory(ulong[] gprs, ulong target, List<object> operands, Register[] implicitRegisters,
        out Register baseReg)
    {
        // Registers already chosen as operands keep their values: the address uses other ones.
        var used = operands.OfType<Register>().Select(r => r.GetFullRegister()).Concat(implicitRegisters).ToHashSet();
        int choice = _rng.Next(6);
        if (choice == 0)
        {
            baseReg = Register.RIP;
            return new MemoryOperand(Register.RIP, (long)target);
        }
        Register b;
        do b = Register.RAX + _rng.Next(16); while (b == Register.RSP || used.Contains(b));
        baseReg = b;
        long disp = _rng.Next(3) switch { 0 => 0, 1 => _rng.Next(-128, 128), _ => _rng.Next(-0x10000, 0x10000) };
        if (choice == 1)
        {
            gprs[b - Register.RAX] = target - (ulong)disp;
            return new MemoryOperand(b, disp, disp == 0 ? 0 : disp is >= -128 and < 128 ? 1 : 4);
        }
        Register x;
        do x = Register.RAX + _rng.Next(16); while (x == Register.RSP || x == b || used.Contains(x));
        int scale = 1 << _rng.Next(4);
        ulong index = (ulong)_rng.Next(0, 64);
        if (_rng.Next(4) == 0) index = (ulong)(long)_rng.Next(-64, 0);
        gprs[x - Register.RAX] = index;
        gprs[b - Register.RAX] = target - (ulong)disp - index * (ulong)scale;
        return new MemoryOperand(b, x, scale, disp, disp == 0 ? 0 : disp is >= -128 and < 128 ? 1 : 4);
    }

    private void FixImplicit(Instruction ins, Mnemonic m, ulong[] gprs, byte[] dataBytes, byte[] stack, ulong memTarget, Register memBase)
    {
        const int Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rbp = 5, Rsi = 6, Rdi = 7;
        if (InstructionForms.IsStringCode(ins.Code))
        {
            gprs[Rsi] = data + (ulong)_rng.Next(0x200, 0x1E00);
            gprs[Rdi] = data + (ulong)_rng.Next(0x200, 0x1E00);
            gprs[Rcx] = (ulong)_rng.Next(0, 20);
            if (_rng.Next(2) == 0)
            {
                // Equal runs make REPE/REPNE go on past the first element.
                Array.Copy(dataBytes, (int)(gprs[Rsi] - data) - 0x100, dataBytes, (int)(gprs[Rdi] - data) - 0x100, 0x200);
            }
            if (_rng.Next(2) == 0) gprs[Rax] = BitConverter.ToUInt64(dataBytes, (int)(gprs[Rdi] - data));
        }
        switch (m)
        {
            case Mnemonic.Xlatb:
                gprs[Rbx] = data + (ulong)_rng.Next(0, 0x1E00);
                break;
            case Mnemonic.Maskmovq:
                gprs[Rdi] = data + (ulong)_rng.Next(0x100, 0x1E00);
                break;
            case Mnemonic.Loop: case Mnemonic.Loope: case Mnemonic.Loopne: case Mnemonic.Jecxz: case Mnemonic.Jrcxz:
                if (_rng.Next(2) == 0) gprs[Rcx] = (ulong)(uint)_rng.Next(0, 3) | (_rng.Next(2) == 0 ? 0x1_0000_0000UL : 0);
                break;
            case Mnemonic.Jmp: case Mnemonic.Call:
                if (ins.Op0Kind == OpKind.Register) gprs[ins.Op0Register.GetFullRegister() - Register.RAX] = pad;
                else if (ins.Op0Kind == OpKind.Memory) BitConverter.TryWriteBytes(dataBytes.AsSpan((int)(memTarget - data)), pad);
                break;
            case Mnemonic.Ret:
                BitConverter.TryWriteBytes(StackAt(stack, gprs[4]), pad);
                break;
            case Mnemonic.Leave:
                gprs[Rbp] = gprs[4] + (ulong)_rng.Next(0, 32) * 8;
                break;
            case Mnemonic.Enter:
                gprs[Rbp] = gprs[4] + (ulong)_rng.Next(0, 32) * 8;
                break;
            case Mnemonic.Popf: case Mnemonic.Popfq:
            {
                // TF would trap the host. NT is not host-stable: a native run that the host kernel preempts
                // between POPF and the trampoline's PUSHF came back once in about ten suite runs with NT cleared,
                // so NT through POPF is left to the unit tests; everything else POPF can change is compared.
                var top = StackAt(stack, gprs[4]);
                ulong v = BitConverter.ToUInt64(top) & ~0x4100UL;
                BitConverter.TryWriteBytes(top, v);
                break;
            }
            case Mnemonic.Div: case Mnemonic.Idiv:
                if (_rng.Next(2) == 0) gprs[Rdx] = m == Mnemonic.Div ? 0 : (gprs[Rax] >> 63 != 0 ? ulong.MaxValue : 0);
                break;
            case Mnemonic.Cmpxchg: case Mnemonic.Cmpxchg8b: case Mnemonic.Cmpxchg16b:
                if (_rng.Next(2) == 0)
                {
                    if (ins.Op0Kind == OpKind.Memory)
                    {
                        int at = (int)(memTarget - data);
                        gprs[Rax] = BitConverter.ToUInt64(dataBytes, at);
                        if (m == Mnemonic.Cmpxchg8b) gprs[Rdx] = BitConverter.ToUInt32(dataBytes, at + 4);
                        if (m == Mnemonic.Cmpxchg16b) gprs[Rdx] = BitConverter.ToUInt64(dataBytes, at + 8);
                    }
                    else gprs[Rax] = gprs[ins.Op0Register.GetFullRegister() - Register.RAX];
                }
                break;
            case Mnemonic.Bt: case Mnemonic.Bts: case Mnemonic.Btr: case Mnemonic.Btc:
                if (ins.Op0Kind == OpKind.Memory && ins.Op1Kind == OpKind.Register)
                {
                    // A register bit offset addresses memory around the operand: keep it inside the data area.
                    ulong bit = (ulong)(long)_rng.Next(-0x800, 0x800);
                    int reg = ins.Op1Register.GetFullRegister() - Register.RAX;
                    if (ins.Op1Register.GetFullRegister() != memBase && reg != (ins.MemoryIndex.GetFullRegister() - Register.RAX))
                        gprs[reg] = bit;
                }
                break;
        }
    }

    private Span<byte> StackAt(byte[] stack, ulong rsp) =>
        stack.AsSpan((int)(rsp - (stackTop - (ulong)(NativeRunner.StackTopOffset - NativeRunner.StackImageOffset))), 8);

    private Instruction? Build(Code code, List<object> ops)
    {
        try
        {
            var m = code.Mnemonic();
            if (InstructionForms.IsStringCode(code)) return BuildString(code);
            if (code == Code.Xlat_m8) return Instruction.Create(code, new MemoryOperand(Register.RBX, Register.AL));
            if (code == Code.Maskmovq_rDI_mm_mm && ops is [Register data, Register mask])
                return Instruction.CreateMaskmovq(_rng.Next(3) == 0 ? 32 : 64, data, mask);
            var a = ops.ToArray();
            if (a.Length == 1 && a[0] is Branch) return Instruction.CreateBranch(code, pad);
            return a switch
            {
                [] => Instruction.Create(code),
                [Register r] => Instruction.Create(code, r),
                [MemoryOperand mo] => Instruction.Create(code, mo),
                [int i] => Instruction.Create(code, i),
                [Register r1, Register r2] => Instruction.Create(code, r1, r2),
                [Register r, MemoryOperand mo] => Instruction.Create(code, r, mo),
                [MemoryOperand mo, Register r] => Instruction.Create(code, mo, r),
                [Register r, int i] => Instruction.Create(code, r, i),
                [Register r, long l] => Instruction.Create(code, r, l),
                [MemoryOperand mo, int i] => Instruction.Create(code, mo, i),
                [int i1, int i2] => Instruction.Create(code, i1, i2),
                [Register r1, Register r2, Register r3] => Instruction.Create(code, r1, r2, r3),
                [Register r1, Register r2, int i] => Instruction.Create(code, r1, r2, i),
                [Register r, MemoryOperand mo, int i] => Instruction.Create(code, r, mo, i),
                [MemoryOperand mo, Register r1, Register r2] => Instruction.Create(code, mo, r1, r2),
                [MemoryOperand mo, Register r, int i] => Instruction.Create(code, mo, r, i),
                _ => null,
            };
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private Instruction BuildString(Code code)
    {
        var oc = code.ToOpCode();
        int addressSize = _rng.Next(3) == 0 ? 32 : 64;
        var m = code.Mnemonic();
        bool compares = m is Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd or Mnemonic.Scasq
            or Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Cmpsq;
        var rep = _rng.Next(3) switch
        {
            0 => RepPrefixKind.None,
            1 => RepPrefixKind.Repe,
            _ => compares ? RepPrefixKind.Repne : RepPrefixKind.Repe,
        };
        return (oc.OperandSize, m) switch
        {
            (_, Mnemonic.Movsb) => Instruction.CreateMovsb(addressSize, Register.None, rep),
            (_, Mnemonic.Movsw) => Instruction.CreateMovsw(addressSize, Register.None, rep),
            (_, Mnemonic.Movsd) => Instruction.CreateMovsd(addressSize, Register.None, rep),
            (_, Mnemonic.Movsq) => Instruction.CreateMovsq(addressSize, Register.None, rep),
            (_, Mnemonic.Stosb) => Instruction.CreateStosb(addressSize, rep),
            (_, Mnemonic.Stosw) => Instruction.CreateStosw(addressSize, rep),
            (_, Mnemonic.Stosd) => Instruction.CreateStosd(addressSize, rep),
            (_, Mnemonic.Stosq) => Instruction.CreateStosq(addressSize, rep),
            (_, Mnemonic.Lodsb) => Instruction.CreateLodsb(addressSize, Register.None, rep),
            (_, Mnemonic.Lodsw) => Instruction.CreateLodsw(addressSize, Register.None, rep),
            (_, Mnemonic.Lodsd) => Instruction.CreateLodsd(addressSize, Register.None, rep),
            (_, Mnemonic.Lodsq) => Instruction.CreateLodsq(addressSize, Register.None, rep),
            (_, Mnemonic.Scasb) => Instruction.CreateScasb(addressSize, rep),
            (_, Mnemonic.Scasw) => Instruction.CreateScasw(addressSize, rep),
            (_, Mnemonic.Scasd) => Instruction.CreateScasd(addressSize, rep),
            (_, Mnemonic.Scasq) => Instruction.CreateScasq(addressSize, rep),
            (_, Mnemonic.Cmpsb) => Instruction.CreateCmpsb(addressSize, Register.None, rep),
            (_, Mnemonic.Cmpsw) => Instruction.CreateCmpsw(addressSize, Register.None, rep),
            (_, Mnemonic.Cmpsd) => Instruction.CreateCmpsd(addressSize, Register.None, rep),
            _ => Instruction.CreateCmpsq(addressSize, Register.None, rep),
        };
    }

    private sealed class MemoryPlaceholder
    {
        public static readonly MemoryPlaceholder Instance = new();
    }

    private sealed class Branch;

    private sealed class ListWriter : CodeWriter
    {
        public readonly List<byte> Bytes = new(16);
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
