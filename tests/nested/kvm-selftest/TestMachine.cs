using System.Buffers.Binary;
using System.Text;
using Hypervisor.Kvm;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;
using Hypervisor.Platform.Time;

namespace Hypervisor.Kvm.SelfTest;

/// <summary>
/// The least machine a test guest needs on KVM: RAM, a COM1 that prints, isa-debug-exit at 0xF4, and a
/// multiboot v1 entry (Multiboot Specification 0.6.96, 3.2: flat 32-bit protected mode, EAX = 0x2BADB002,
/// EBX = info). Until the real machine lands, this is what the nested harness runs.
/// </summary>
internal sealed class TestMachine : IIoHandler, IDisposable
{
    public const ulong LoadAddress = 0x10_0000;
    private const ulong MultibootInfoAddress = 0x9000;

    private readonly List<KvmVcpu> _vcpus = [];
    private readonly StringBuilder _serial = new();
    private readonly object _lock = new();
    private readonly HostClock _clock = new();

    public TestMachine(KvmHypervisor kvm, int cpuCount, ulong ramSize = 64 << 20)
    {
        Memory = GuestMemory.CreatePc(ramSize);
        Vm = (KvmVm)kvm.CreateVm(new VmSetup(Memory, this, cpuCount, _clock));
        for (int i = 0; i < cpuCount; i++) _vcpus.Add((KvmVcpu)Vm.CreateVcpu(i));
    }

    public GuestMemory Memory { get; }
    public KvmVm Vm { get; }
    public IReadOnlyList<KvmVcpu> Vcpus => _vcpus;

    /// <summary>The value the guest wrote to isa-debug-exit, or null.</summary>
    public int? DebugExitCode { get; private set; }

    /// <summary>Writes to ports other than COM1 and 0xF4 (port, value), in order.</summary>
    public List<(ushort Port, byte Value)> OtherPortWrites { get; } = [];

    public string Serial
    {
        get { lock (_lock) return _serial.ToString(); }
    }

    /// <summary>Loads the PT_LOAD segments of an ELF32 multiboot kernel at their physical addresses.</summary>
    public uint LoadElf32(byte[] elf)
    {
        if (elf.Length < 52 || BinaryPrimitives.ReadUInt32LittleEndian(elf) != 0x464C457F || elf[4] != 1)
            throw new InvalidDataException("not an ELF32 image");
        uint entry = BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(0x18));
        uint phoff = BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(0x1C));
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(0x2A));
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(0x2C));
        for (int i = 0; i < phnum; i++)
        {
            var ph = elf.AsSpan((int)phoff + i * phentsize, 32);
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != 1) continue;
            uint offset = BinaryPrimitives.ReadUInt32LittleEndian(ph[4..]);
            uint paddr = BinaryPrimitives.ReadUInt32LittleEndian(ph[12..]);
            uint filesz = BinaryPrimitives.ReadUInt32LittleEndian(ph[16..]);
            uint memsz = BinaryPrimitives.ReadUInt32LittleEndian(ph[20..]);
            Memory.Load(paddr, new byte[memsz]);
            Memory.Load(paddr, elf.AsSpan((int)offset, (int)filesz));
        }
        return entry;
    }

    /// <summary>Puts vCPU 0 at <paramref name="entry"/> in flat 32-bit protected mode, as a multiboot loader does.</summary>
    public void EnterProtectedMode(uint entry)
    {
        Memory.Write(MultibootInfoAddress, 1u);                                          // flags: mem_* valid
        Memory.Write(MultibootInfoAddress + 4, 640u);                                     // mem_lower, KiB
        Memory.Write(MultibootInfoAddress + 8, (uint)((Memory.RamSize - (1 << 20)) >> 10)); // mem_upper, KiB
        var vcpu = _vcpus[0];
        var s = vcpu.GetState();
        s.Cs = SegmentRegister.Flat(0x08, code: true);
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = SegmentRegister.Flat(0x10, code: false);
        s.Cr0 = 0x11;
        s.Rflags = 0x2;
        s.Rip = entry;
        s.Rax = 0x2BAD_B002;
        s.Rbx = MultibootInfoAddress;
        vcpu.SetState(s);
    }

    /// <summary>
    /// Runs every vCPU on its own thread until the guest exits through 0xF4 (all vCPUs are kicked) or one
    /// vCPU leaves Run for another reason, or <paramref name="timeout"/> passes (then all are kicked).
    /// </summary>
    public VcpuExit[] Run(TimeSpan timeout)
    {
        var exits = new VcpuExit[_vcpus.Count];
        var threads = _vcpus.Select((v, i) => new Thread(() =>
        {
            try
            {
                exits[i] = v.Run();
            }
            catch (Exception e)
            {
                exits[i] = new VcpuExit(VcpuExitReason.InternalError, $"exception: {e}");
            }
            if (i == 0 || exits[i].Reason != VcpuExitReason.Kicked) KickAll();
        }) { Name = $"vcpu{i}" }).ToList();
        threads.ForEach(t => t.Start());
        if (!threads[0].Join(timeout)) KickAll();
        foreach (var t in threads)
            if (!t.Join(TimeSpan.FromSeconds(30)))
                throw new TimeoutException($"{t.Name} did not return from Run after a kick");
        return exits;
    }

    public void KickAll()
    {
        foreach (var v in _vcpus) v.Kick();
    }

    public void PortRead(ushort port, Span<byte> data)
    {
        // COM1 LSR: transmitter empty, so the guest's polling loop writes at once.
        data.Fill(port == 0x3FD ? (byte)0x60 : (byte)0xFF);
    }

    public void PortWrite(ushort port, ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            switch (port)
            {
                case 0x3F8:
                    _serial.Append((char)data[0]);
                    break;
                case 0xF4:
                    DebugExitCode = data[0];
                    KickAll();
                    break;
                case >= 0x3F9 and <= 0x3FF:
                    break;
                default:
                    OtherPortWrites.Add((port, data[0]));
                    break;
            }
        }
    }

    public void MmioRead(ulong address, Span<byte> data) => data.Fill(0xFF);

    public void MmioWrite(ulong address, ReadOnlySpan<byte> data) { }

    public void Dispose()
    {
        Vm.Dispose();
        Memory.Dispose();
        _clock.Dispose();
    }
}
