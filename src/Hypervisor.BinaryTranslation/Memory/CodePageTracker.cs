using System.Collections.Concurrent;
using Hypervisor.Platform.Memory;

namespace Hypervisor.BinaryTranslation.Memory;

/// <summary>
/// Which guest-physical pages hold decoded code (QEMU marks code pages in its TLB; Bochs keeps a stamp per page).
/// A CPU store reaches a code page only through the slow path, because the software TLB never maps a code page
/// writable; the store then invalidates the page's blocks before it lands. Device writes (DMA) come from other
/// threads: they only queue the page, and the vCPU invalidates at the next block boundary.
/// </summary>
public sealed class CodePageTracker
{
    private readonly GuestMemory _memory;
    /// <summary>One byte per page, indexed by <see cref="MemoryRegion.Slot"/>; grown when a region is added later.</summary>
    private volatile byte[]?[] _pages = [];
    private readonly ConcurrentQueue<ulong> _deviceWrites = new();
    private volatile bool _deviceWritesPending;

    public CodePageTracker(GuestMemory memory)
    {
        _memory = memory;
        memory.DeviceWriteObserver += OnDeviceWrite;
    }

    /// <summary>Called with a page (physical address, 4 KiB aligned) whose code is about to change.</summary>
    public Action<ulong>? Invalidate { get; set; }

    /// <summary>Called when a page becomes a code page: writable TLB entries for it must go.</summary>
    public Action<ulong>? BecameCode { get; set; }

    public bool DeviceWritesPending => _deviceWritesPending;

    public bool IsCode(ulong physical)
    {
        var slot = Locate(physical, out int page);
        return slot != null && slot[page] != 0;
    }

    public void MarkCode(ulong physical)
    {
        var slot = Locate(physical, out int page);
        if (slot == null || slot[page] != 0) return;
        slot[page] = 1;
        BecameCode?.Invoke(physical & ~0xFFFUL);
    }

    /// <summary>A CPU store is about to write a page: drop its code first.</summary>
    public void OnCpuWrite(ulong physical)
    {
        var slot = Locate(physical, out int page);
        if (slot == null || slot[page] == 0) return;
        slot[page] = 0;
        Invalidate?.Invoke(physical & ~0xFFFUL);
    }

    /// <summary>Runs on the vCPU thread at a block boundary: applies queued device writes.</summary>
    public void DrainDeviceWrites()
    {
        _deviceWritesPending = false;
        while (_deviceWrites.TryDequeue(out ulong page)) OnCpuWrite(page);
    }

    private void OnDeviceWrite(ulong address, ulong length)
    {
        if (length == 0) return;
        for (ulong page = address & ~0xFFFUL; page < address + length; page += 0x1000)
        {
            if (!IsCode(page)) continue;
            _deviceWrites.Enqueue(page);
            _deviceWritesPending = true;
        }
    }

    /// <summary>First touch of a region (the vCPU and device threads may race here, so under a lock).</summary>
    private byte[] Allocate(MemoryRegion region)
    {
        lock (_deviceWrites)
        {
            var pages = _pages;
            if (region.Slot >= pages.Length) Array.Resize(ref pages, region.Slot + 1);
            var slot = pages[region.Slot] ??= new byte[(int)(region.Size >> 12)];
            _pages = pages;
            return slot;
        }
    }

    private byte[]? Locate(ulong physical, out int page)
    {
        var regions = _memory.Regions;
        for (int i = 0; i < regions.Count; i++)
        {
            var r = regions[i];
            if (physical >= r.GuestPhysicalAddress && physical < r.End)
            {
                page = (int)((physical - r.GuestPhysicalAddress) >> 12);
                var pages = _pages;
                return r.Slot < pages.Length && pages[r.Slot] is { } p ? p : Allocate(r);
            }
        }
        page = 0;
        return null;
    }
}
