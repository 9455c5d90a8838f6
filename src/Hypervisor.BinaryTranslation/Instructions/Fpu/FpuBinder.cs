using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Instructions.Sse;
using Hypervisor.BinaryTranslation.X87;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>
/// Binds the implemented x87 instructions. CR0.EM or CR0.TS make them raise #NM (Intel SDM Vol. 3, 2.5),
/// decided at decode time from the mode key like SSE. Every x87 instruction of the 80387 and later is bound.
/// </summary>
public static unsafe class FpuBinder
{
    private static FpuMemory Format(MemorySize size) => size switch
    {
        MemorySize.Float32 => FpuMemory.Float32,
        MemorySize.Float64 => FpuMemory.Float64,
        MemorySize.Float80 => FpuMemory.Float80,
        MemorySize.Int16 => FpuMemory.Int16,
        MemorySize.Int32 => FpuMemory.Int32,
        MemorySize.Int64 => FpuMemory.Int64,
        _ => FpuMemory.None,
    };

    private static int StIndex(Register r) => r - Register.ST0;

    internal static bool Bind(in Instruction ins, ref Op op, in BindContext ctx)
    {
        if (!Bound(ins, ref op)) return false;
        if (ctx.FpuEmulated || ctx.TaskSwitched)
        {
            // FNSTSW/FNINIT etc. also raise #NM with TS set; EM makes every x87 instruction #NM.
            if (ins.Mnemonic is not Mnemonic.Wait || ctx.TaskSwitched) op.Handler = &SseBinder.DeviceNotAvailable;
        }
        return true;
    }

    private static bool Bound(in Instruction ins, ref Op op)
    {
        bool memory = ins.OpCount > 0 && ins.Op0Kind == OpKind.Memory;
        var format = memory ? Format(ins.MemorySize) : FpuMemory.None;
        switch (ins.Mnemonic)
        {
            case Mnemonic.Fld: case Mnemonic.Fild:
                if (memory)
                {
                    op.Aux = (byte)format;
                    op.Handler = &FpuLoadStore.LoadMemory;
                }
                else
                {
                    op.Cond = (byte)StIndex(ins.Op0Register);
                    op.Handler = &FpuLoadStore.LoadRegister;
                }
                return format != FpuMemory.None || !memory;
            case Mnemonic.Fld1: return Constant(ref op, Float80.Constant.One);
            case Mnemonic.Fldl2t: return Constant(ref op, Float80.Constant.Log2Ten);
            case Mnemonic.Fldl2e: return Constant(ref op, Float80.Constant.Log2E);
            case Mnemonic.Fldpi: return Constant(ref op, Float80.Constant.Pi);
            case Mnemonic.Fldlg2: return Constant(ref op, Float80.Constant.Log10Two);
            case Mnemonic.Fldln2: return Constant(ref op, Float80.Constant.LnTwo);
            case Mnemonic.Fldz: return Constant(ref op, Float80.Constant.Zero);
            case Mnemonic.Fst: case Mnemonic.Fstp: case Mnemonic.Fist: case Mnemonic.Fistp: case Mnemonic.Fisttp:
            {
                bool pop = ins.Mnemonic is Mnemonic.Fstp or Mnemonic.Fistp or Mnemonic.Fisttp;
                if (memory)
                {
                    if (format == FpuMemory.None) return false;
                    op.Aux = (byte)format;
                    op.Cond = (byte)((pop ? 1 : 0) | (ins.Mnemonic == Mnemonic.Fisttp ? 2 : 0));
                    op.Handler = &FpuLoadStore.StoreMemory;
                    return true;
                }
                op.Cond = (byte)StIndex(ins.Op0Register);
                op.Aux = pop ? (byte)1 : (byte)0;
                op.Handler = &FpuLoadStore.StoreRegister;
                return true;
            }
            case Mnemonic.Fxch:
                op.Cond = (byte)(ins.OpCount > 1 ? StIndex(ins.Op1Register) : ins.OpCount == 1 ? StIndex(ins.Op0Register) : 1);
                op.Handler = &FpuLoadStore.Exchange;
                return true;
            case Mnemonic.Ffree:
                op.Cond = (byte)StIndex(ins.Op0Register);
                op.Handler = &FpuLoadStore.Free;
                return true;
            case Mnemonic.Fadd: case Mnemonic.Faddp: case Mnemonic.Fiadd: return Arithmetic(ins, ref op, 0, format);
            case Mnemonic.Fmul: case Mnemonic.Fmulp: case Mnemonic.Fimul: return Arithmetic(ins, ref op, 1, format);
            case Mnemonic.Fsub: case Mnemonic.Fsubp: case Mnemonic.Fisub: return Arithmetic(ins, ref op, 4, format);
            case Mnemonic.Fsubr: case Mnemonic.Fsubrp: case Mnemonic.Fisubr: return Arithmetic(ins, ref op, 5, format);
            case Mnemonic.Fdiv: case Mnemonic.Fdivp: case Mnemonic.Fidiv: return Arithmetic(ins, ref op, 6, format);
            case Mnemonic.Fdivr: case Mnemonic.Fdivrp: case Mnemonic.Fidivr: return Arithmetic(ins, ref op, 7, format);
            case Mnemonic.Fcom: case Mnemonic.Fcomp: case Mnemonic.Fcompp:
            case Mnemonic.Fucom: case Mnemonic.Fucomp: case Mnemonic.Fucompp:
            case Mnemonic.Ficom: case Mnemonic.Ficomp:
            case Mnemonic.Fcomi: case Mnemonic.Fcomip: case Mnemonic.Fucomi: case Mnemonic.Fucomip:
            {
                var m = ins.Mnemonic;
                bool unordered = m is Mnemonic.Fucom or Mnemonic.Fucomp or Mnemonic.Fucompp or Mnemonic.Fucomi
                    or Mnemonic.Fucomip;
                int pops = m is Mnemonic.Fcompp or Mnemonic.Fucompp ? 2
                    : m is Mnemonic.Fcomp or Mnemonic.Fucomp or Mnemonic.Ficomp or Mnemonic.Fcomip or Mnemonic.Fucomip ? 1 : 0;
                bool comi = m is Mnemonic.Fcomi or Mnemonic.Fcomip or Mnemonic.Fucomi or Mnemonic.Fucomip;
                op.Aux = (byte)((unordered ? 1 : 0) | pops << 1 | (comi ? 8 : 0));
                op.Aux2 = (ushort)((int)format << 8);
                // FCOM with no operand compares ST(1); FCOMI ST(0), ST(i) names ST(i) second.
                op.Cond = memory ? (byte)0 : (byte)(ins.OpCount == 0 ? 1 : StIndex(ins.GetOpRegister(ins.OpCount - 1)));
                op.Handler = &FpuArithmetic.Compare;
                return !memory || format != FpuMemory.None;
            }
            case Mnemonic.Ftst:
                op.Aux = 16;
                op.Handler = &FpuArithmetic.Compare;
                return true;
            case Mnemonic.Fxam: op.Handler = &FpuArithmetic.Examine; return true;
            case Mnemonic.Fchs: op.Aux = 0; op.Handler = &FpuArithmetic.Unary; return true;
            case Mnemonic.Fabs: op.Aux = 1; op.Handler = &FpuArithmetic.Unary; return true;
            case Mnemonic.Fsqrt: op.Aux = 2; op.Handler = &FpuArithmetic.Unary; return true;
            case Mnemonic.Frndint: op.Aux = 3; op.Handler = &FpuArithmetic.Unary; return true;
            case Mnemonic.Fcmovb: return Fcmov(ins, ref op, 2);
            case Mnemonic.Fcmovnb: return Fcmov(ins, ref op, 3);
            case Mnemonic.Fcmove: return Fcmov(ins, ref op, 4);
            case Mnemonic.Fcmovne: return Fcmov(ins, ref op, 5);
            case Mnemonic.Fcmovbe: return Fcmov(ins, ref op, 6);
            case Mnemonic.Fcmovnbe: return Fcmov(ins, ref op, 7);
            case Mnemonic.Fcmovu: return Fcmov(ins, ref op, 10);
            case Mnemonic.Fcmovnu: return Fcmov(ins, ref op, 11);
            case Mnemonic.Fnstsw: case Mnemonic.Fstsw:
                op.Cond = ins.Mnemonic == Mnemonic.Fstsw ? (byte)1 : (byte)0;
                op.Handler = memory ? &FpuControl.StoreStatus : &FpuControl.StoreStatusToAx;
                return true;
            case Mnemonic.Fnstcw: case Mnemonic.Fstcw:
                op.Cond = ins.Mnemonic == Mnemonic.Fstcw ? (byte)1 : (byte)0;
                op.Handler = &FpuControl.StoreControl;
                return true;
            case Mnemonic.Fldcw: op.Handler = &FpuControl.LoadControl; return true;
            case Mnemonic.Fninit: case Mnemonic.Finit:
                op.Cond = ins.Mnemonic == Mnemonic.Finit ? (byte)1 : (byte)0;
                op.Handler = &FpuControl.Init;
                return true;
            case Mnemonic.Fnclex: case Mnemonic.Fclex:
                op.Cond = ins.Mnemonic == Mnemonic.Fclex ? (byte)1 : (byte)0;
                op.Handler = &FpuControl.ClearExceptions;
                return true;
            case Mnemonic.Fincstp: op.Aux = 1; op.Handler = &FpuControl.MoveTop; return true;
            case Mnemonic.Fdecstp: op.Aux = 0xFF; op.Handler = &FpuControl.MoveTop; return true;
            case Mnemonic.Fnop: case Mnemonic.Wait: op.Handler = &FpuControl.WaitOnly; return true;
            case Mnemonic.Fscale: op.Aux = 0; op.Handler = &FpuScale.TwoOperand; return true;
            case Mnemonic.Fsin: return Function(ref op, FpuFunctions.Sine, &FpuFunctions.Unary);
            case Mnemonic.Fcos: return Function(ref op, FpuFunctions.Cosine, &FpuFunctions.Unary);
            case Mnemonic.F2xm1: return Function(ref op, FpuFunctions.TwoToXMinusOne, &FpuFunctions.Unary);
            case Mnemonic.Fprem: return Function(ref op, FpuFunctions.Remainder, &FpuFunctions.Binary);
            case Mnemonic.Fprem1: return Function(ref op, FpuFunctions.Remainder1, &FpuFunctions.Binary);
            case Mnemonic.Fpatan: return Function(ref op, FpuFunctions.Arctangent, &FpuFunctions.Binary);
            case Mnemonic.Fyl2x: return Function(ref op, FpuFunctions.Log2, &FpuFunctions.Binary);
            case Mnemonic.Fyl2xp1: return Function(ref op, FpuFunctions.Log2PlusOne, &FpuFunctions.Binary);
            case Mnemonic.Fsincos: return Function(ref op, FpuFunctions.SineCosine, &FpuFunctions.PushPair);
            case Mnemonic.Fptan: return Function(ref op, FpuFunctions.Tangent, &FpuFunctions.PushPair);
            case Mnemonic.Fxtract: return Function(ref op, FpuFunctions.Extract, &FpuFunctions.PushPair);
            case Mnemonic.Fbld: op.Handler = &FpuBcd.Load; return memory;
            case Mnemonic.Fbstp: op.Handler = &FpuBcd.StorePop; return memory;
            case Mnemonic.Fnstenv: case Mnemonic.Fstenv:
                return Environment(ins, ref op, ins.Mnemonic == Mnemonic.Fstenv, &FpuEnvironment.StoreEnvironment);
            case Mnemonic.Fldenv: return Environment(ins, ref op, false, &FpuEnvironment.LoadEnvironment);
            case Mnemonic.Fnsave: case Mnemonic.Fsave:
                return Environment(ins, ref op, ins.Mnemonic == Mnemonic.Fsave, &FpuEnvironment.Save);
            case Mnemonic.Frstor: return Environment(ins, ref op, false, &FpuEnvironment.Restore);
        }
        return false;
    }

    private static bool Function(ref Op op, byte function, delegate*<State.CpuContext, ref Op, bool> handler)
    {
        op.Aux = function;
        op.Handler = handler;
        return true;
    }

    /// <summary>Aux = 1 for the 32-bit operand-size images (FpuEnv28/FpuState108), Cond = 1 for the waiting forms.</summary>
    private static bool Environment(in Instruction ins, ref Op op, bool wait,
        delegate*<State.CpuContext, ref Op, bool> handler)
    {
        op.Aux = ins.MemorySize is MemorySize.FpuEnv28 or MemorySize.FpuState108 ? (byte)1 : (byte)0;
        op.Cond = wait ? (byte)1 : (byte)0;
        op.Handler = handler;
        return ins.Op0Kind == OpKind.Memory;
    }

    private static bool Constant(ref Op op, Float80.Constant constant)
    {
        op.Aux = (byte)constant;
        op.Handler = &FpuLoadStore.LoadConstant;
        return true;
    }

    private static bool Fcmov(in Instruction ins, ref Op op, int condition)
    {
        op.Aux = (byte)condition;
        op.Cond = (byte)StIndex(ins.Op1Register);
        op.Handler = &FpuArithmetic.ConditionalMove;
        return true;
    }

    private static bool Arithmetic(in Instruction ins, ref Op op, int operation, FpuMemory format)
    {
        op.Aux = (byte)operation;
        bool pop = ins.Mnemonic is Mnemonic.Faddp or Mnemonic.Fmulp or Mnemonic.Fsubp or Mnemonic.Fsubrp
            or Mnemonic.Fdivp or Mnemonic.Fdivrp;
        if (ins.Op0Kind == OpKind.Memory)
        {
            if (format == FpuMemory.None) return false;
            op.Aux2 = (ushort)((int)format << 8);
        }
        else
        {
            int first = StIndex(ins.Op0Register), second = StIndex(ins.Op1Register);
            bool toSti = first != 0 || pop;
            op.Cond = (byte)(toSti ? first : second);
            op.Aux2 = (ushort)((toSti ? 1 : 0) | (pop ? 2 : 0));
        }
        op.Handler = &FpuArithmetic.Arithmetic;
        return true;
    }
}
