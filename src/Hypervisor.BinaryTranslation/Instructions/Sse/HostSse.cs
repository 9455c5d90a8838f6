using System.Runtime.InteropServices;
using Iced.Intel;
using Tmds.Linux;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Instructions.Sse;

/// <summary>
/// Host-assisted SSE floating point: each guest FP instruction form (Code + imm8) is compiled once into a tiny
/// native stub that runs the same instruction on xmm0/xmm1 under the guest's MXCSR with every exception masked,
/// and returns the result, the raised exception flags and RFLAGS. Rounding, FTZ/DAZ, NaN propagation and flags
/// are therefore exactly the x86 host's, which is what the guest expects. This needs an x86-64 host, as the
/// intrinsics of the packed-integer operations do; a software fallback belongs with a non-x86 host port.
/// Stub signature: (Vector128* xmm0 in/out, Vector128* xmm1, uint* mxcsr in/out, ulong* rflags/gpr out).
/// </summary>
public static unsafe class HostSse
{
    public enum Shape : byte
    {
        /// <summary>op xmm0, xmm1 [, imm8]: result in xmm0.</summary>
        XmmXmm,

        /// <summary>op xmm0, xmm1 comparing into RFLAGS (COMISS/UCOMISS/COMISD/UCOMISD).</summary>
        Flags,

        /// <summary>op rax/eax, xmm1: integer result (CVT(T)SS2SI/SD2SI).</summary>
        ToGpr32, ToGpr64,

        /// <summary>op xmm0, eax/rax with rax loaded from the second pointer (CVTSI2SS/SD).</summary>
        FromGpr32, FromGpr64,
    }

    private static readonly object Gate = new();
    private static readonly Dictionary<(Code, byte), int> Index = new();
    private static readonly List<nint> Stubs = new();
    private static byte* _page;
    private static int _used;
    private const int PageSize = 1 << 16;

    public static delegate* unmanaged<void*, void*, uint*, ulong*, void> Get(int index)
    {
        lock (Gate) return (delegate* unmanaged<void*, void*, uint*, ulong*, void>)Stubs[index];
    }

    /// <summary>The stub number of a form, compiling it on first use (decode time, not execution time).</summary>
    public static int For(Code code, byte imm8, Shape shape, bool hasImmediate)
    {
        lock (Gate)
        {
            if (Index.TryGetValue((code, imm8), out int existing)) return existing;
            var a = new Assembler(64);
            a.sub(rsp, 8);
            a.stmxcsr(__dword_ptr[rsp]);
            a.ldmxcsr(__dword_ptr[rdx]);
            a.movdqu(xmm0, __xmmword_ptr[rdi]);
            a.movdqu(xmm1, __xmmword_ptr[rsi]);
            Instruction ins = shape switch
            {
                Shape.ToGpr32 => Instruction.Create(code, Register.EAX, Register.XMM1),
                Shape.ToGpr64 => Instruction.Create(code, Register.RAX, Register.XMM1),
                Shape.FromGpr32 => Instruction.Create(code, Register.XMM0, Register.EAX),
                Shape.FromGpr64 => Instruction.Create(code, Register.XMM0, Register.RAX),
                _ => hasImmediate ? Instruction.Create(code, Register.XMM0, Register.XMM1, imm8)
                    : Instruction.Create(code, Register.XMM0, Register.XMM1),
            };
            if (shape is Shape.FromGpr32 or Shape.FromGpr64) a.mov(rax, __qword_ptr[rsi]);
            a.AddInstruction(ins);
            if (shape is Shape.ToGpr32 or Shape.ToGpr64) a.mov(__qword_ptr[rcx], rax);
            else
            {
                a.pushfq();
                a.pop(__qword_ptr[rcx]);
            }
            a.movdqu(__xmmword_ptr[rdi], xmm0);
            a.stmxcsr(__dword_ptr[rdx]);
            a.ldmxcsr(__dword_ptr[rsp]);
            a.add(rsp, 8);
            a.ret();
            if (_page == null || _used > PageSize - 128)
            {
                void* p = LibC.mmap(null, PageSize, LibC.PROT_READ | LibC.PROT_WRITE | LibC.PROT_EXEC,
                    LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS, -1, 0);
                if (p == (void*)-1) throw new InvalidOperationException("cannot map executable memory for SSE stubs");
                _page = (byte*)p;
                _used = 0;
            }
            byte* at = _page + _used;
            var writer = new PointerWriter(at);
            a.Assemble(writer, (ulong)at);
            _used += (writer.Length + 15) & ~15;
            Stubs.Add((nint)at);
            Index[(code, imm8)] = Stubs.Count - 1;
            return Stubs.Count - 1;
        }
    }

    private sealed class PointerWriter(byte* start) : CodeWriter
    {
        public int Length;
        public override void WriteByte(byte value) => start[Length++] = value;
    }
}
