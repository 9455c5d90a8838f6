using System.Collections.Concurrent;
using Hypervisor.BinaryTranslation.Backend;
using Hypervisor.Devices.Interrupts;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;
using Hypervisor.Platform.Time;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Tests.Backend;

/// <summary>
/// A VM on the BT backend as the machine builds one: RAM at 0, the real userspace irqchip, and an I/O handler
/// that records port and MMIO writes (a write to port 0xF4 or MMIO 0xD0000000 kicks every vCPU, like a
/// device asking the machine to stop).
/// </summary>
public sealed class BtTestVm : IDisposable
{
    public const ushort ExitPort = 0xF4;
    public const ulong ExitMmio = 0xD000_0000;

    private readonly List<BtVcpu> _vcpus = [];

    public BtTestVm(int cpus = 1, ulong ramSize = 2 << 20, BtOptions? options = null)
    {
        Clock = new HostClock();
        Memory = new GuestMemory();
        Memory.AddRam(0, ramSize, "ram");
        Io = new RecordingIo(this);
        Chip = new UserspaceIrqChip(Clock, cpus, tscFrequencyHz: 1_000_000_000);
        Hypervisor = new BtHypervisor { Options = options ?? new BtOptions() };
        Vm = (BtVm)Hypervisor.CreateVm(new VmSetup(Memory, Io, cpus, Clock, Chip));
        for (int i = 0; i < cpus; i++) _vcpus.Add((BtVcpu)Vm.CreateVcpu(i));
    }

    public HostClock Clock { get; }
    public GuestMemory Memory { get; }
    public RecordingIo Io { get; }
    public UserspaceIrqChip Chip { get; }
    public BtHypervisor Hypervisor { get; }
    public BtVm Vm { get; }
    public IReadOnlyList<BtVcpu> Vcpus => _vcpus;

    /// <summary>Assembles code at <paramref name="at"/> (no HLT appended).</summary>
    public void Load(ulong at, int bits, Action<Assembler> build)
    {
        var asm = new Assembler(bits);
        build(asm);
        var writer = new ByteWriter();
        asm.Assemble(writer, at);
        Memory.Load(at, writer.Bytes.ToArray());
    }

    /// <summary>Flat 32-bit protected mode at <paramref name="rip"/>, paging off (a multiboot entry state).</summary>
    public static CpuState Flat32(ulong rip, ulong rsp = 0x80000, bool interruptsEnabled = false)
    {
        var s = CpuState.CreateReset();
        s.Rdx = 0;
        s.Cr0 = 0x11;
        s.Cs = SegmentRegister.Flat(0x08, code: true);
        s.Ds = s.Es = s.Ss = s.Fs = s.Gs = SegmentRegister.Flat(0x10, code: false);
        s.Rip = rip;
        s.Rsp = rsp;
        s.Rflags = 0x2 | (interruptsEnabled ? 0x200UL : 0);
        return s;
    }

    /// <summary>Runs vCPU <paramref name="index"/> on a thread until it returns an exit other than Kicked, or the time is up.</summary>
    public VcpuExit RunUntilExit(int index, TimeSpan? timeout = null)
    {
        VcpuExit exit = default;
        var thread = new Thread(() => exit = _vcpus[index].Run()) { IsBackground = true };
        thread.Start();
        if (!thread.Join(timeout ?? TimeSpan.FromSeconds(20)))
        {
            _vcpus[index].Kick();
            thread.Join();
            throw new TimeoutException($"vCPU {index} did not stop; it returned {exit.Reason} after a kick");
        }
        return exit;
    }

    public void KickAll()
    {
        foreach (var v in _vcpus) v.Kick();
    }

    public void Dispose()
    {
        foreach (var v in _vcpus) v.Dispose();
        Vm.Dispose();
        Chip.Dispose();
        Clock.Dispose();
        Memory.Dispose();
    }

    public sealed class RecordingIo(BtTestVm vm) : IIoHandler
    {
        public ConcurrentQueue<(ushort Port, byte Value)> PortWrites { get; } = new();
        public ConcurrentQueue<(ulong Address, ulong Value)> MmioWrites { get; } = new();
        public Func<ushort, byte>? PortReader { get; set; }

        public void PortRead(ushort port, Span<byte> data) => data.Fill(PortReader?.Invoke(port) ?? 0xFF);

        public void PortWrite(ushort port, ReadOnlySpan<byte> data)
        {
            PortWrites.Enqueue((port, data[0]));
            if (port == ExitPort) vm.KickAll();
        }

        public void MmioRead(ulong address, Span<byte> data) => data.Fill(0xFF);

        public void MmioWrite(ulong address, ReadOnlySpan<byte> data)
        {
            ulong value = 0;
            for (int i = data.Length - 1; i >= 0; i--) value = value << 8 | data[i];
            MmioWrites.Enqueue((address, value));
            if (address == ExitMmio) vm.KickAll();
        }
    }

    private sealed class ByteWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
