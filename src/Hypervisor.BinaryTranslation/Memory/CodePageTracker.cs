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
    private readonly byte[][] _pages;
    private readonly ConcurrentQueue<ulong> _deviceWrites = new();
    private volatile bool _deviceWritesPending;

    public CodePageTracker(GuestMemory memory)
    {
        _memory = memory;
        _pages = new byte[memory.Regions.Count][];
        for (int i = 0; i < _pages.Length; i++)
            _pages[i] = new byte[(int)(memory.Regions[i].Size >> 12)];
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

    private byte[]? Locate(ulong physical, out int page)
    {
        var regions = _memory.Regions;
        for (int i = 0; i < regions.Count; i++)
        {
            var r = regions[i];
            if (physical >= r.GuestPhysicalAddress && physical < r.End)
            {
                page = (int)((physical - r.GuestPhysicalAddress) >> 12);
                return _pages[i];
            }
        }
        page = 0;
        return null;
    }
}
