using global::System.Runtime.InteropServices;
using Iced.Intel;
using Tmds.Linux;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.Differential;

/// <summary>
/// Executes one instruction on the host CPU (TESTING.md section 1). One RWX mapping below 2 GiB (MAP_32BIT, so
/// 32-bit address-size forms reach it) holds a trampoline, the instruction slot, a landing pad for taken
/// branches, the register block, a data area and a stack. The trampoline loads RFLAGS and all GPRs (RSP too:
/// it points into the mapping's stack) from the register block, runs the slot, and stores them back. The
/// emulator maps the same bytes at the same guest-physical address, so addresses are identical on both sides.
/// </summary>
public sealed unsafe class NativeRunner : IDisposable
{
    public const int Size = 0x10000;
    public const int SlotOffset = 0x800;
    public const int PadOffset = 0x860;
    public const int StateOffset = 0x1000;
    public const int DataOffset = 0x2000;
    public const int DataSize = 0x2000;
    public const int StackTopOffset = 0x8000;

    /// <summary>The part of the stack a test initialises and compares: 4 KiB below the top, 256 bytes above.</summary>
    public const int StackImageOffset = StackTopOffset - 0x1000;
    public const int StackImageSize = 0x1100;

    /// <summary>Register block layout: GPR i at 8*i, RFLAGS at 128, host RSP at 136, taken marker at 144.</summary>
    public const int FlagsSlot = 128, HostRspSlot = 136, MarkerSlot = 144;

    /// <summary>FXSAVE images (16-byte aligned): the test's x87/SSE state in and out, and the host's.</summary>
    public const int TestFxOffset = StateOffset + 0x200, HostFxOffset = StateOffset + 0x400;

    private readonly byte* _base;
    private readonly ulong _epilogue;

    public NativeRunner()
    {
        const int MAP_32BIT = 0x40;
        void* p = LibC.mmap(null, Size, LibC.PROT_READ | LibC.PROT_WRITE | LibC.PROT_EXEC,
            LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (p == (void*)-1) throw new InvalidOperationException($"mmap RWX failed: errno {LibC.errno}");
        _base = (byte*)p;
        _epilogue = BuildTrampoline();
    }

    public ulong Base => (ulong)_base;
    public ulong Slot => Base + SlotOffset;
    public ulong Pad => Base + PadOffset;
    public ulong Data => Base + DataOffset;
    public ulong StackTop => Base + StackTopOffset;

    public Span<byte> Bytes(int offset, int length) => new(_base + offset, length);

    private ulong BuildTrampoline()
    {
        ulong state = Base + StateOffset;
        var a = new Assembler(64);
        var epilogue = a.CreateLabel();
        // Prologue at offset 0: save callee-saved registers, switch to the test state.
        a.push(rbx); a.push(rbp); a.push(r12); a.push(r13); a.push(r14); a.push(r15);
        a.mov(rax, state);
        a.mov(__qword_ptr[rax + HostRspSlot], rsp);
        a.fxsave(__[rax + (HostFxOffset - StateOffset)]);
        a.fxrstor(__[rax + (TestFxOffset - StateOffset)]);
        a.push(__qword_ptr[rax + FlagsSlot]);
        a.popfq();
        a.mov(rsp, __qword_ptr[rax + 4 * 8]);
        AssemblerRegister64[] regs = [rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15];
        for (int i = 1; i < 16; i++)
            if (i != 4) a.mov(regs[i], __qword_ptr[rax + i * 8]);
        a.mov(rax, __qword_ptr[rax]);
        a.jmp(Base + SlotOffset);
        // Epilogue: nothing here may change RFLAGS before PUSHFQ, nor touch the test stack.
        a.Label(ref epilogue);
        a.mov(__qword_ptr[state], rax);
        a.mov(rax, state);
        for (int i = 1; i < 16; i++) a.mov(__qword_ptr[rax + i * 8], regs[i]);
        a.mov(rsp, __qword_ptr[rax + HostRspSlot]);
        a.pushfq();
        a.pop(rcx);
        a.mov(__qword_ptr[rax + FlagsSlot], rcx);
        a.fxsave(__[rax + (TestFxOffset - StateOffset)]);
        a.fxrstor(__[rax + (HostFxOffset - StateOffset)]);
        // Back to a sane RFLAGS for the caller (DF = 0, AC = 0, as the ABI requires).
        a.push(2);
        a.popfq();
        a.pop(r15); a.pop(r14); a.pop(r13); a.pop(r12); a.pop(rbp); a.pop(rbx);
        a.ret();
        var result = a.Assemble(new BufferWriter(_base, SlotOffset), Base, BlockEncoderOptions.ReturnNewInstructionOffsets);
        ulong epilogueAddress = result.GetLabelRIP(epilogue);

        // Landing pad for taken branches: mark, then leave through the epilogue.
        var pad = new Assembler(64);
        pad.mov(__byte_ptr[Base + StateOffset + MarkerSlot], 1);
        pad.jmp(epilogueAddress);
        pad.Assemble(new BufferWriter(_base + PadOffset, 0x100), Pad);
        return epilogueAddress;
    }

    /// <summary>Places the instruction in the slot, followed by a jump to the epilogue.</summary>
    public void SetInstruction(ReadOnlySpan<byte> code)
    {
        code.CopyTo(new Span<byte>(_base + SlotOffset, code.Length));
        byte* after = _base + SlotOffset + code.Length;
        after[0] = 0xE9;
        long rel = (long)_epilogue - (long)(Slot + (ulong)code.Length + 5);
        *(int*)(after + 1) = (int)rel;
    }

    /// <summary>Runs the slot with the given registers and RFLAGS; returns whether a branch went to the pad.</summary>
    public Span<byte> FxImage => new(_base + TestFxOffset, 512);

    public bool Run(Span<ulong> gprs, ref ulong rflags)
    {
        ulong* s = (ulong*)(_base + StateOffset);
        for (int i = 0; i < 16; i++) s[i] = gprs[i];
        s[FlagsSlot / 8] = rflags;
        _base[StateOffset + MarkerSlot] = 0;
        ((delegate* unmanaged<void>)_base)();
        for (int i = 0; i < 16; i++) gprs[i] = s[i];
        rflags = s[FlagsSlot / 8];
        return _base[StateOffset + MarkerSlot] != 0;
    }

    public void Dispose() => LibC.munmap(_base, Size);

    private sealed class BufferWriter(byte* start, int capacity) : CodeWriter
    {
        private int _position;

        public override void WriteByte(byte value)
        {
            if (_position >= capacity) throw new InvalidOperationException("trampoline does not fit");
            start[_position++] = value;
        }
    }
}
