using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;

namespace Hypervisor.BinaryTranslation.Memory;

/// <summary>
/// The guest-physical address space as the CPU sees it: RAM and ROM from <see cref="GuestMemory"/>, everything
/// else MMIO through the VM's <see cref="IIoHandler"/>. Shared by all vCPUs of a VM.
/// </summary>
public sealed unsafe class AddressSpace
{
    public AddressSpace(GuestMemory memory, IIoHandler? io = null, Mmu? mmu = null)
    {
        Ram = memory;
        Io = io;
        Mmu = mmu ?? new Mmu();
        Code = new CodePageTracker(memory);
    }

    public GuestMemory Ram { get; }
    public IIoHandler? Io { get; }
    public Mmu Mmu { get; }
    public CodePageTracker Code { get; }

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
