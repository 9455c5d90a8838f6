using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Hypervisor.Platform.Memory;

/// <summary>
/// The guest's physical memory: RAM and ROM regions, each one anonymous host mapping. Every guest-physical
/// access made by a device goes through here and is bounds-checked, so a guest-controlled address can never
/// reach host memory outside the guest's.
/// </summary>
public sealed class GuestMemory : IDisposable
{
    private MemoryRegion[] _regions = [];

    /// <summary>
    /// Called with (address, length) before a device writes guest memory, so a CPU backend that caches
    /// translated code (BT) can drop what the write invalidates.
    /// </summary>
    public Action<ulong, ulong>? DeviceWriteObserver { get; set; }

    public IReadOnlyList<MemoryRegion> Regions => _regions;

    /// <summary>
    /// Raised after a region became read-only or writable for the guest (chipset shadow RAM, the i440FX PAM
    /// registers): CPU backends drop the write mappings they cached (BT TLBs) or remap the region (KVM slots).
    /// Raised on the thread that made the change, typically a vCPU's in a port write.
    /// </summary>
    public event Action<MemoryRegion>? AccessChanged;

    /// <summary>Bytes of RAM (ROM not counted).</summary>
    public ulong RamSize { get; private set; }

    /// <summary>RAM below the PCI hole and the remainder above 4 GiB, as a PC lays it out.</summary>
    public static GuestMemory CreatePc(ulong ramSize)
    {
        if (ramSize < 1 << 20)
            throw new ArgumentException($"memory size {ramSize} bytes is too small: a PC needs at least 1 MiB");
        if ((ramSize & 0xFFFFF) != 0)
            throw new ArgumentException($"memory size {ramSize} bytes is not a multiple of 1 MiB");
        var memory = new GuestMemory();
        try
        {
            memory.AddRam(0, PcMemoryLayout.LowRamSize(ramSize), "ram-below-4g");
            ulong high = PcMemoryLayout.HighRamSize(ramSize);
            if (high != 0) memory.AddRam(PcMemoryLayout.FourGiB, high, "ram-above-4g");
        }
        catch
        {
            memory.Dispose();
            throw;
        }
        return memory;
    }

    public MemoryRegion AddRam(ulong guestPhysicalAddress, ulong size, string name)
    {
        var region = Add(guestPhysicalAddress, size, readOnly: false, name);
        RamSize += size;
        return region;
    }

    /// <summary>A region the guest can read and execute but not write (BIOS flash).</summary>
    public MemoryRegion AddRom(ulong guestPhysicalAddress, ulong size, string name) =>
        Add(guestPhysicalAddress, size, readOnly: true, name);

    /// <summary>Lets the guest write a region or drops its writes, as a chipset's shadow-RAM control does.</summary>
    public void SetReadOnly(MemoryRegion region, bool readOnly)
    {
        if (Array.IndexOf(_regions, region) < 0)
            throw new ArgumentException($"memory region '{region.Name}' does not belong to this guest", nameof(region));
        if (region.ReadOnly == readOnly) return;
        region.ReadOnly = readOnly;
        AccessChanged?.Invoke(region);
    }

    private MemoryRegion Add(ulong gpa, ulong size, bool readOnly, string name)
    {
        foreach (var r in _regions)
            if (gpa < r.End && r.GuestPhysicalAddress < gpa + size)
                throw new ArgumentException(
                    $"memory region '{name}' at 0x{gpa:x} overlaps '{r.Name}' at 0x{r.GuestPhysicalAddress:x}");
        var region = new MemoryRegion(name, gpa, size, readOnly, _regions.Length);
        var list = new List<MemoryRegion>(_regions) { region };
        list.Sort((a, b) => a.GuestPhysicalAddress.CompareTo(b.GuestPhysicalAddress));
        _regions = [.. list];
        return region;
    }

    /// <summary>The region holding all of [gpa, gpa+length), or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public MemoryRegion? Find(ulong gpa, ulong length = 1)
    {
        foreach (var r in _regions)
            if (r.Contains(gpa, length)) return r;
        return null;
    }

    public bool IsRam(ulong gpa, ulong length = 1) => Find(gpa, length) is { ReadOnly: false };

    /// <summary>Read-only view of guest memory; throws <see cref="GuestMemoryException"/> outside it.</summary>
    public ReadOnlySpan<byte> GetReadOnlySpan(ulong gpa, int length) => Resolve(gpa, length).Slice(gpa, length);

    /// <summary>
    /// Writable view of guest RAM for a device about to write (DMA). Throws outside RAM or into ROM.
    /// </summary>
    public Span<byte> GetWritableSpan(ulong gpa, int length)
    {
        var region = Resolve(gpa, length);
        if (region.ReadOnly)
            throw new GuestMemoryException(gpa, (ulong)length, $"'{region.Name}' is read-only");
        DeviceWriteObserver?.Invoke(gpa, (ulong)length);
        return region.Slice(gpa, length);
    }

    public void Read(ulong gpa, Span<byte> destination) => GetReadOnlySpan(gpa, destination.Length).CopyTo(destination);

    public void Write(ulong gpa, ReadOnlySpan<byte> source) => source.CopyTo(GetWritableSpan(gpa, source.Length));

    public T Read<T>(ulong gpa) where T : unmanaged =>
        MemoryMarshal.Read<T>(GetReadOnlySpan(gpa, Unsafe.SizeOf<T>()));

    public void Write<T>(ulong gpa, T value) where T : unmanaged =>
        MemoryMarshal.Write(GetWritableSpan(gpa, Unsafe.SizeOf<T>()), in value);

    /// <summary>
    /// Loads an image into any region, ROM included: this is the VMM placing firmware or a kernel, not a
    /// guest write.
    /// </summary>
    public void Load(ulong gpa, ReadOnlySpan<byte> image)
    {
        var region = Resolve(gpa, image.Length);
        DeviceWriteObserver?.Invoke(gpa, (ulong)image.Length);
        image.CopyTo(region.Slice(gpa, image.Length));
    }

    private MemoryRegion Resolve(ulong gpa, int length)
    {
        if (length < 0) throw new GuestMemoryException(gpa, 0, "negative length");
        return Find(gpa, (ulong)length)
               ?? throw new GuestMemoryException(gpa, (ulong)length, "not backed by guest memory");
    }

    public void Dispose()
    {
        foreach (var r in _regions) r.Dispose();
        _regions = [];
    }
}
