using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using Hypervisor.Platform.Cpu;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>
/// A guest with hand-built descriptor tables for system-level tests: GDT, IDT and TSS in RAM, identity page
/// tables for long mode, and a run loop that delivers exceptions the way the backend does.
/// </summary>
public sealed class SystemMachine : IDisposable
{
    public const ulong Gdt = 0x10000, Idt = 0x11000, Tss = 0x12000, Tss2 = 0x12800, Pml4 = 0x70000;
    public const ulong UserStack = 0x80000, KernelStack = 0x90000, IstStack = 0xA0000, Data = 0x30000;

    // GDT layout (selectors), modelled on Linux: kernel code/data, 32-bit code, user data/code.
    public const ushort KernelCode64 = 0x08, KernelData = 0x10, KernelCode32 = 0x18, KernelCode16 = 0x20;
    public const ushort UserData = 0x2B, UserCode64 = 0x33, UserCode32 = 0x3B, TssSelector = 0x40, Spare = 0x50;

    public SystemMachine(Hypervisor.Platform.Io.IIoHandler? io = null) => Machine = new TestMachine(64, io: io);

    public TestMachine Machine { get; }
    public CpuContext Cpu => Machine.Cpu;

    /// <summary>An 8-byte segment descriptor; access = P|DPL|S|type, flags = G|D/B|L|AVL.</summary>
    public static ulong Segment(uint baseAddress, uint limit, byte access, byte flags) =>
        (limit & 0xFFFF) | ((ulong)(baseAddress & 0xFF_FFFF) << 16) | ((ulong)access << 40)
        | ((ulong)((limit >> 16) & 0xF) << 48) | ((ulong)(flags & 0xF) << 52) | ((ulong)(baseAddress >> 24) << 56);

    public static ulong Code64(int dpl) => Segment(0, 0xFFFFF, (byte)(0x9A | dpl << 5), 0xA);
    public static ulong Code32(int dpl) => Segment(0, 0xFFFFF, (byte)(0x9A | dpl << 5), 0xC);
    public static ulong Data32(int dpl) => Segment(0, 0xFFFFF, (byte)(0x92 | dpl << 5), 0xC);

    /// <summary>A legacy gate (interrupt/trap/call/task) of the given type.</summary>
    public static ulong Gate(ushort selector, uint offset, byte type, int dpl, int parameters = 0) =>
        (offset & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(parameters & 0x1F) << 32)
        | ((ulong)(0x80 | dpl << 5 | type) << 40) | ((ulong)(offset >> 16) << 48);

    public void WriteU64(ulong address, ulong value) => Machine.Memory.Load(address, BitConverter.GetBytes(value));
    public void WriteU32(ulong address, uint value) => Machine.Memory.Load(address, BitConverter.GetBytes(value));
    public void WriteU16(ulong address, ushort value) => Machine.Memory.Load(address, BitConverter.GetBytes(value));

    public ulong ReadU64(ulong address)
    {
        var b = new byte[8];
        Machine.Memory.Read(address, b);
        return BitConverter.ToUInt64(b);
    }

    public uint ReadU32(ulong address) => (uint)ReadU64(address);

    public void SetDescriptor(ushort selector, ulong value) => WriteU64(Gdt + (ulong)(selector & ~7), value);

    /// <summary>A 64-bit interrupt/trap gate (16 bytes) in the IDT.</summary>
    public void SetGate64(int vector, ulong offset, byte type = 14, int dpl = 0, int ist = 0, ushort selector = KernelCode64)
    {
        ulong low = (offset & 0xFFFF) | ((ulong)selector << 16) | ((ulong)(ist & 7) << 32)
                    | ((ulong)(0x80 | dpl << 5 | type) << 40) | ((offset >> 16 & 0xFFFF) << 48);
        WriteU64(Idt + (ulong)vector * 16, low);
        WriteU64(Idt + (ulong)vector * 16 + 8, offset >> 32);
    }

    public void SetGate32(int vector, uint offset, byte type = 14, int dpl = 0, ushort selector = KernelCode32) =>
        WriteU64(Idt + (ulong)vector * 8, Gate(selector, offset, type, dpl));

    /// <summary>The Linux-like GDT, a 64-bit TSS (RSP0, IST1) and an IDTR covering 256 16-byte gates.</summary>
    public void BuildLongMode()
    {
        SetDescriptor(KernelCode64, Code64(0));
        SetDescriptor(KernelData, Data32(0));
        SetDescriptor(KernelCode32, Code32(0));
        SetDescriptor(UserData, Data32(3));
        SetDescriptor(UserCode64, Code64(3));
        SetDescriptor(UserCode32, Code32(3));
        SetDescriptor(TssSelector, Segment((uint)Tss, 0x67, 0x89, 0));
        WriteU64(Gdt + TssSelector + 8, 0);
        WriteU64(Tss + 4, KernelStack);
        WriteU64(Tss + 0x24, IstStack);
        var s = Cpu.Save();
        s.Gdtr = new DescriptorTableRegister { Base = Gdt, Limit = 0x7F };
        s.Idtr = new DescriptorTableRegister { Base = Idt, Limit = 256 * 16 - 1 };
        s.Tr = new Descriptor(Segment((uint)Tss, 0x67, 0x8B, 0)).ToSegment(TssSelector);
        IdentityMap(s);
        s.Cs = new Descriptor(Code64(0)).ToSegment(KernelCode64);
        s.Ss = s.Ds = s.Es = new Descriptor(Data32(0)).ToSegment(KernelData);
        s.Fs = s.Gs = new SegmentRegister { Unusable = true };
        Cpu.Load(s);
    }

    /// <summary>
    /// 32-bit protected mode without paging: the same GDT plus a 32-bit TSS (ESP0/SS0), 8-byte IDT gates,
    /// ring 0 flat code/data.
    /// </summary>
    public void BuildProtected32()
    {
        SetDescriptor(KernelCode64, Code64(0));
        SetDescriptor(KernelData, Data32(0));
        SetDescriptor(KernelCode32, Code32(0));
        SetDescriptor(UserData, Data32(3));
        SetDescriptor(UserCode32, Code32(3));
        SetDescriptor(TssSelector, Segment((uint)Tss, 0x67, 0x8B, 0));
        WriteU32(Tss + 4, (uint)KernelStack);
        WriteU32(Tss + 8, KernelData);
        var s = Cpu.Save();
        s.Cr0 = 0x11;
        s.Cr4 = 0x600;
        s.Efer = 0;
        s.Gdtr = new DescriptorTableRegister { Base = Gdt, Limit = 0xFF };
        s.Idtr = new DescriptorTableRegister { Base = Idt, Limit = 256 * 8 - 1 };
        s.Tr = new Descriptor(Segment((uint)Tss, 0x67, 0x8B, 0)).ToSegment(TssSelector);
        s.Cs = new Descriptor(Code32(0)).ToSegment(KernelCode32);
        s.Ss = s.Ds = s.Es = s.Fs = s.Gs = new Descriptor(Data32(0)).ToSegment(KernelData);
        s.Rip = TestMachine.CodeBase;
        s.Rsp = KernelStack - 0x100;
        Cpu.Load(s);
    }

    /// <summary>Enters ring 3 in 32-bit code.</summary>
    public void EnterUser32(ulong eip)
    {
        var s = Cpu.Save();
        s.Cs = new Descriptor(Code32(3)).ToSegment(UserCode32);
        s.Ss = s.Ds = s.Es = s.Fs = s.Gs = new Descriptor(Data32(3)).ToSegment(UserData);
        s.Rip = eip;
        s.Rsp = UserStack;
        s.Rflags = 0x202;
        Cpu.Load(s);
    }

    /// <summary>Real mode at 0000:1000 with the IVT at 0.</summary>
    public void BuildReal()
    {
        var s = CpuState.CreateReset();
        s.Cs = SegmentRegister.RealMode(0, true);
        s.Rip = TestMachine.CodeBase;
        s.Rsp = 0xFFF0;
        s.Rdx = 0;
        Cpu.Load(s);
    }

    /// <summary>Identity-maps the first GiB with 2 MiB pages (CR4.PAE, CR3), so the tests hold once paging is walked.</summary>
    public void IdentityMap(CpuState s)
    {
        WriteU64(Pml4, (Pml4 + 0x1000) | 7);
        WriteU64(Pml4 + 0x1000, (Pml4 + 0x2000) | 7);
        for (ulong i = 0; i < 512; i++) WriteU64(Pml4 + 0x2000 + i * 8, (i << 21) | 0x87);
        s.Cr3 = Pml4;
        s.Cr4 |= 0x20;
    }

    /// <summary>Enters user mode (CPL 3) in 64-bit code at rip with the user stack.</summary>
    public void EnterUser64(ulong rip)
    {
        var s = Cpu.Save();
        s.Cs = new Descriptor(Code64(3)).ToSegment(UserCode64);
        s.Ss = s.Ds = s.Es = new Descriptor(Data32(3)).ToSegment(UserData);
        s.Rip = rip;
        s.Rsp = UserStack;
        s.Rflags = 0x202;
        Cpu.Load(s);
    }

    public void Load(ulong at, int bits, Action<Assembler> build)
    {
        var asm = new Assembler(bits);
        build(asm);
        var writer = new Writer();
        asm.Assemble(writer, at);
        Machine.Memory.Load(at, writer.Bytes.ToArray());
    }

    /// <summary>Runs until HLT, delivering exceptions as the backend does; stops at a triple fault.</summary>
    public RunExit Run(int maxExceptions = 16)
    {
        for (int i = 0; i <= maxExceptions; i++)
        {
            var exit = Machine.Run(1_000_000);
            if (exit != RunExit.Exception) return exit;
            InterruptDelivery.DeliverException(Cpu);
            if (Cpu.ShutdownPending) return RunExit.Exception;
        }
        return RunExit.Exception;
    }

    public void Dispose() => Machine.Dispose();

    private sealed class Writer : CodeWriter
    {
        public readonly List<byte> Bytes = new();
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
