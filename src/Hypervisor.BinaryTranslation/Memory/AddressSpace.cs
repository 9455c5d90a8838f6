using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;

namespace Hypervisor.BinaryTranslation.Memory;

/// <summary>
/// The guest-physical address space as the CPU sees it: RAM and ROM from <see cref="GuestMemory"/>, everything
/// else MMIO through the VM's <see cref="IIoHandler"/>. Shared by all vCPUs of a VM.
/// </summary>
public sealed unsafe class AddressSpace
{
    private const ulong A20Bit = 1UL << 20;
    private volatile bool _a20Enabled = true;
    private int _a20Generation;

    public AddressSpace(GuestMemory memory, IIoHandler? io = null, Mmu? mmu = null)
    {
        Ram = memory;
        Io = io;
        Mmu = mmu ?? new PagingMmu();
        Code = new CodePageTracker(memory);
        // A region turning read-only or writable (chipset shadow RAM) changes which pages a TLB may map for
        // writing: every vCPU flushes at its next block boundary, exactly as after an A20 change.
        memory.AccessChanged += _ => InvalidateTranslations();
    }

    public GuestMemory Ram { get; }
    public IIoHandler? Io { get; }
    public Mmu Mmu { get; }
    public CodePageTracker Code { get; }

    /// <summary>
    /// The PC's A20 gate (port 92h bit 1, the keyboard controller's output port): when false, physical address
    /// bit 20 of every CPU access - page-table reads included - is forced to 0, so real-mode addresses wrap at
    /// 1 MiB like an 8086. Changing it bumps <see cref="A20Generation"/> and raises <see cref="A20Changed"/>:
    /// every vCPU's TLB maps linear pages to host pages through the old mask and must be flushed
    /// (<see cref="State.CpuContext.SyncA20"/>).
    /// </summary>
    public bool A20Enabled
    {
        get => _a20Enabled;
        set
        {
            if (_a20Enabled == value) return;
            _a20Enabled = value;
            A20Mask = value ? ulong.MaxValue : ~A20Bit;
            InvalidateTranslations();
        }
    }

    private void InvalidateTranslations()
    {
        Interlocked.Increment(ref _a20Generation);
        A20Changed?.Invoke();
    }

    /// <summary>ANDed into every physical address the CPU forms.</summary>
    public ulong A20Mask { get; private set; } = ulong.MaxValue;

    /// <summary>Counts A20 changes; a vCPU whose TLB was filled under another generation flushes it.</summary>
    public int A20Generation => Volatile.Read(ref _a20Generation);

    /// <summary>Raised on the thread that changed the gate, after the new mask is in effect.</summary>
    public event Action? A20Changed;

    /// <summary>
    /// The host address of a physical page, or null for MMIO. <paramref name="readOnly"/> is set for ROM, whose
    /// guest writes are dropped.
    /// </summary>
    public byte* HostPage(ulong physicalPage, out bool readOnly)
    {
        var region = Ram.Find(physicalPage, 0x1000);
        if (region == null)
        {
            readOnly = false;
            return null;
        }
        readOnly = region.ReadOnly;
        return region.HostAddress + (physicalPage - region.GuestPhysicalAddress);
    }

    public void MmioRead(ulong physical, Span<byte> data)
    {
        if (Io != null) Io.MmioRead(physical, data);
        // Nothing decodes the address: the bus floats high, as on a PC.
        else data.Fill(0xFF);
    }

    public void MmioWrite(ulong physical, ReadOnlySpan<byte> data) => Io?.MmioWrite(physical, data);
}
