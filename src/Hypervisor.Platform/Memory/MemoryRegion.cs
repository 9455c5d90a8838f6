using Tmds.Linux;
using Hypervisor.Platform.Native;

namespace Hypervisor.Platform.Memory;

/// <summary>
/// One contiguous block of guest-physical memory backed by an anonymous host mapping. Read-only regions
/// (firmware ROM) are writable by the VMM while loading but the guest's writes are dropped.
/// </summary>
public sealed unsafe class MemoryRegion : IDisposable
{
    private byte* _host;

    internal MemoryRegion(string name, ulong guestPhysicalAddress, ulong size, bool readOnly, int slot)
    {
        if (size == 0 || (size & 0xFFF) != 0)
            throw new ArgumentException($"memory region '{name}': size 0x{size:x} is not a non-zero multiple of 4 KiB");
        if ((guestPhysicalAddress & 0xFFF) != 0)
            throw new ArgumentException($"memory region '{name}': base 0x{guestPhysicalAddress:x} is not page aligned");
        Name = name;
        GuestPhysicalAddress = guestPhysicalAddress;
        Size = size;
        ReadOnly = readOnly;
        Slot = slot;
        // MAP_NORESERVE: the guest's RAM is committed page by page as it touches it, like any VMM.
        void* p = LibC.mmap(null, (size_t)size, LibC.PROT_READ | LibC.PROT_WRITE,
            LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0);
        if (p == (void*)-1)
            throw new OutOfMemoryException(
                $"cannot reserve {size >> 20} MiB of guest memory for '{name}': {LinuxError.Describe(LibC.errno)}");
        _host = (byte*)p;
    }

    public string Name { get; }
    public ulong GuestPhysicalAddress { get; }
    public ulong Size { get; }
    public ulong End => GuestPhysicalAddress + Size;
    /// <summary>Guest writes are dropped. Changes only through <see cref="GuestMemory.SetReadOnly"/>.</summary>
    public bool ReadOnly { get; internal set; }

    /// <summary>Stable small integer for hypervisors that number their memory slots (KVM).</summary>
    public int Slot { get; }

    /// <summary>Host address of the first byte. Only CPU backends use it (KVM registration, BT TLB).</summary>
    public byte* HostAddress => _host != null ? _host : throw new ObjectDisposedException(Name);

    public bool Contains(ulong gpa, ulong length) =>
        gpa >= GuestPhysicalAddress && length <= Size && gpa - GuestPhysicalAddress <= Size - length;

    /// <summary>The bytes of [gpa, gpa+length); the caller has checked <see cref="Contains"/>.</summary>
    public Span<byte> Slice(ulong gpa, int length) => new(HostAddress + (gpa - GuestPhysicalAddress), length);

    public Span<byte> AsSpan(ulong offset, int length)
    {
        if (length < 0 || offset > Size || (ulong)length > Size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset));
        return new Span<byte>(HostAddress + offset, length);
    }

    public void Dispose()
    {
        if (_host == null) return;
        LibC.munmap(_host, (size_t)Size);
        _host = null;
    }
}
