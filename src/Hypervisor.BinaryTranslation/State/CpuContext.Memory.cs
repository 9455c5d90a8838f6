using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Memory;

namespace Hypervisor.BinaryTranslation.State;

/// <summary>One software-TLB entry: the linear page it maps and host = linear + Delta.</summary>
public struct TlbEntry
{
    public ulong Tag;
    public ulong Delta;
}

/// <summary>Two sets of <see cref="CpuContext.TlbEntries"/> entries: supervisor, then user.</summary>
[InlineArray(2 * CpuContext.TlbEntries)]
public struct Tlb
{
    private TlbEntry _element0;
}

/// <summary>Per TLB entry, off the hot path: the page size (log2) and the global flag, for flushes and INVLPG.</summary>
[InlineArray(2 * CpuContext.TlbEntries)]
public struct TlbAttributes
{
    private byte _element0;
}

/// <summary>The four PAE page-directory-pointer-table entries, loaded from CR3 like the processor's PDPTE registers.</summary>
[InlineArray(4)]
public struct PdpteRegisters
{
    private ulong _element0;
}

/// <summary>
/// Guest memory access: linear address -> software TLB hit -> host pointer; a miss goes through the MMU
/// (<see cref="Mmu.Translate"/>), then to RAM (filling the TLB), ROM or MMIO. Faults are values: an access that
/// faults returns false with <see cref="Exit"/> set, and the handler returns false at once.
/// </summary>
/// <remarks>
/// The TLB caches decisions, not page-table entries, so it keeps one set per privilege (QEMU's MMU indexes): an
/// entry filled by a supervisor access could otherwise let CPL 3 through a supervisor page. The current set is
/// chosen by CPL (<see cref="SyncTranslationMode"/>), so the hot path stays a tag compare and an add. A write entry
/// exists only for a page the requester may write under the current CR0.WP and whose dirty flag is set, so stores
/// that hit never need a page-table update. MMIO, ROM and code pages are never mapped for writing.
/// </remarks>
public sealed unsafe partial class CpuContext
{
    /// <summary>Entries per set (supervisor and user).</summary>
    public const int TlbEntries = 256;

    private const ulong PageMask = 0xFFF;

    /// <summary>Never equal to a page-aligned tag.</summary>
    private const ulong InvalidTag = 1;

    private const byte GlobalAttribute = 0x80;
    private const byte ShiftMask = 0x3F;

    public Tlb ReadTlb, WriteTlb;
    private TlbAttributes _readAttributes, _writeAttributes;

    /// <summary>
    /// Instruction TLB for block lookups that miss the jump cache (every one after a TLB flush or mode change):
    /// Tag is the linear page, Delta the physical page of a translation that allowed a fetch.
    /// </summary>
    private Tlb _codeTlb;
    private TlbAttributes _codeAttributes;

    /// <summary>Index of the first entry of the current set: 0 (CPL 0-2) or <see cref="TlbEntries"/> (CPL 3).</summary>
    private int _tlbSet;

    /// <summary>The control bits the cached translations were made under (see <see cref="SyncTranslationMode"/>).</summary>
    private ulong _pagingControl = ulong.MaxValue;

    /// <summary>The <see cref="AddressSpace.A20Generation"/> the TLB was filled under.</summary>
    public int TlbA20Generation { get; private set; }

    /// <summary>Some entry came from a page larger than 4 KiB, so INVLPG must look beyond the page's own slots.</summary>
    private bool _largeEntries;

    /// <summary>The PAE PDPTE registers (Intel SDM Vol. 3, 4.4.1); meaningful only while PAE paging is in use.</summary>
    public PdpteRegisters Pdptes;

    /// <summary>Drops all non-global translations (MOV CR3); with CR4.PGE = 0 every translation.</summary>
    public void FlushTlb()
    {
        bool keepGlobal = (Architectural.Cr4 & PagingBits.Cr4Pge) != 0;
        bool large = false;
        for (int i = 0; i < 2 * TlbEntries; i++)
        {
            if (keepGlobal && (_readAttributes[i] & GlobalAttribute) != 0) large |= (_readAttributes[i] & ShiftMask) > 12;
            else ReadTlb[i].Tag = InvalidTag;
            if (keepGlobal && (_writeAttributes[i] & GlobalAttribute) != 0) large |= (_writeAttributes[i] & ShiftMask) > 12;
            else WriteTlb[i].Tag = InvalidTag;
            if (keepGlobal && (_codeAttributes[i] & GlobalAttribute) != 0) large |= (_codeAttributes[i] & ShiftMask) > 12;
            else _codeTlb[i].Tag = InvalidTag;
        }
        _largeEntries = large;
        TranslationGeneration++;
    }

    /// <summary>Drops every translation, global ones included (CR0.PG, CR4.PGE/PAE/PSE changes, A20 changes).</summary>
    public void FlushTlbAll()
    {
        for (int i = 0; i < 2 * TlbEntries; i++)
        {
            ReadTlb[i].Tag = InvalidTag;
            WriteTlb[i].Tag = InvalidTag;
            _codeTlb[i].Tag = InvalidTag;
        }
        _largeEntries = false;
        TranslationGeneration++;
    }

    /// <summary>
    /// INVLPG: drops the translations of the page holding <paramref name="linear"/>, global ones included, in both
    /// sets. A translation from a large page is cached per 4 KiB piece; all pieces go.
    /// </summary>
    public void InvalidatePage(ulong linear)
    {
        ulong page = linear & ~PageMask;
        int index = (int)(linear >> 12) & (TlbEntries - 1);
        for (int set = 0; set <= TlbEntries; set += TlbEntries)
        {
            if (ReadTlb[index + set].Tag == page) ReadTlb[index + set].Tag = InvalidTag;
            if (WriteTlb[index + set].Tag == page) WriteTlb[index + set].Tag = InvalidTag;
            if (_codeTlb[index + set].Tag == page) _codeTlb[index + set].Tag = InvalidTag;
        }
        if (_largeEntries)
        {
            for (int i = 0; i < 2 * TlbEntries; i++)
            {
                int rs = _readAttributes[i] & ShiftMask, ws = _writeAttributes[i] & ShiftMask;
                int cs = _codeAttributes[i] & ShiftMask;
                if (rs > 12 && ((ReadTlb[i].Tag ^ page) >> rs) == 0) ReadTlb[i].Tag = InvalidTag;
                if (ws > 12 && ((WriteTlb[i].Tag ^ page) >> ws) == 0) WriteTlb[i].Tag = InvalidTag;
                if (cs > 12 && ((_codeTlb[i].Tag ^ page) >> cs) == 0) _codeTlb[i].Tag = InvalidTag;
            }
        }
        TranslationGeneration++;
    }

    /// <summary>
    /// Called by <see cref="UpdateMode"/>: selects the TLB set for the CPL and flushes everything when a control bit
    /// that shapes translations or cached rights changed (CR0.PG/WP, CR4.PSE/PAE/PGE/SMEP, EFER.NXE/LMA). The processor
    /// flushes on most of these itself (Intel SDM Vol. 3, 4.10.4.1); WP and NXE are here because this TLB caches
    /// the rights decision rather than the entry's bits.
    /// </summary>
    public void SyncTranslationMode()
    {
        _tlbSet = Cpl == 3 ? TlbEntries : 0;
        var a = Architectural;
        ulong control = (a.Cr0 & (PagingBits.Cr0Pg | PagingBits.Cr0Wp))
                        | (a.Cr4 & (PagingBits.Cr4Pse | PagingBits.Cr4Pae | PagingBits.Cr4Pge | PagingBits.Cr4Smep))
                        | (a.Efer & (PagingBits.EferNxe | PagingBits.EferLma)) << 32;
        if (control != _pagingControl)
        {
            _pagingControl = control;
            FlushTlbAll();
        }
        SyncA20();
    }

    /// <summary>
    /// Flushes the TLB if the A20 gate changed since it was filled. The interpreter loop checks between blocks and
    /// the slow path before every walk, so a vCPU sees a change made by another at its next block at the latest.
    /// </summary>
    public void SyncA20()
    {
        int generation = Memory.A20Generation;
        if (generation == TlbA20Generation) return;
        TlbA20Generation = generation;
        FlushTlbAll();
    }

    /// <summary>PAE paging is in use: CR0.PG = 1, CR4.PAE = 1, EFER.LMA = 0 (Intel SDM Vol. 3, 4.1.1).</summary>
    public bool PaePagingActive
    {
        get
        {
            var a = Architectural;
            return (a.Cr0 & PagingBits.Cr0Pg) != 0 && (a.Cr4 & PagingBits.Cr4Pae) != 0 && (a.Efer & PagingBits.EferLma) == 0;
        }
    }

    /// <summary>
    /// Loads the four PDPTEs from the 32-byte aligned table at CR3[31:5] (Intel SDM Vol. 3, 4.4.1), as MOV CR3 and
    /// the MOV CR0/CR4 that enable PAE paging do. Returns false - and keeps the old registers - when a present entry
    /// has a reserved bit set; the caller raises #GP(0).
    /// </summary>
    public bool LoadPdptes()
    {
        ulong table = (Architectural.Cr3 & 0xFFFF_FFE0) & Memory.A20Mask;
        ulong reserved = PagingBits.PaePdpteReserved | ~PagingMmu.PhysicalAddressMask(this);
        Span<ulong> entries = stackalloc ulong[4];
        for (int i = 0; i < 4; i++)
        {
            entries[i] = PagingMmu.ReadPhysical64(Memory, table + (ulong)i * 8);
            if ((entries[i] & PagingBits.Present) != 0 && (entries[i] & reserved) != 0) return false;
        }
        for (int i = 0; i < 4; i++) Pdptes[i] = entries[i];
        return true;
    }

    /// <summary>Drops writable mappings of a host page that just became a code page.</summary>
    public void FlushWritableHostPage(ulong hostPage)
    {
        for (int i = 0; i < 2 * TlbEntries; i++)
            if (WriteTlb[i].Tag + WriteTlb[i].Delta == hostPage) WriteTlb[i].Tag = InvalidTag;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Load<T>(ulong host) where T : unmanaged
    {
        if (typeof(T) == typeof(byte)) return *(byte*)host;
        if (typeof(T) == typeof(ushort)) return Unsafe.ReadUnaligned<ushort>((void*)host);
        if (typeof(T) == typeof(uint)) return Unsafe.ReadUnaligned<uint>((void*)host);
        return Unsafe.ReadUnaligned<ulong>((void*)host);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(ulong host, ulong value) where T : unmanaged
    {
        if (typeof(T) == typeof(byte)) *(byte*)host = (byte)value;
        else if (typeof(T) == typeof(ushort)) Unsafe.WriteUnaligned((void*)host, (ushort)value);
        else if (typeof(T) == typeof(uint)) Unsafe.WriteUnaligned((void*)host, (uint)value);
        else Unsafe.WriteUnaligned((void*)host, value);
    }

    /// <summary>Reads T at a linear address, zero-extended, with the rights of the current CPL.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Read<T>(ulong linear, out ulong value) where T : unmanaged
    {
        ref TlbEntry e = ref Unsafe.Add(ref ReadTlb[0], ((int)(linear >> 12) & (TlbEntries - 1)) + _tlbSet);
        if (e.Tag == ((linear + (ulong)(sizeof(T) - 1)) & ~PageMask))
        {
            value = Load<T>(linear + e.Delta);
            return true;
        }
        return ReadSlow<T>(linear, out value);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Write<T>(ulong linear, ulong value) where T : unmanaged
    {
        ref TlbEntry e = ref Unsafe.Add(ref WriteTlb[0], ((int)(linear >> 12) & (TlbEntries - 1)) + _tlbSet);
        if (e.Tag == ((linear + (ulong)(sizeof(T) - 1)) & ~PageMask))
        {
            Store<T>(linear + e.Delta, value);
            return true;
        }
        return WriteSlow<T>(linear, value);
    }

    /// <summary>
    /// An implicit supervisor-mode read (GDT, LDT, IDT, TSS; Intel SDM Vol. 3, 4.6): supervisor rights at any CPL,
    /// and a #PF reports U/S = 0.
    /// </summary>
    public bool ReadSystem<T>(ulong linear, out ulong value) where T : unmanaged
    {
        ref TlbEntry e = ref ReadTlb[(int)(linear >> 12) & (TlbEntries - 1)];
        if (e.Tag == ((linear + (ulong)(sizeof(T) - 1)) & ~PageMask))
        {
            value = Load<T>(linear + e.Delta);
            return true;
        }
        ulong buffer = 0;
        bool ok = Access(linear, (byte*)&buffer, sizeof(T), AccessType.Read, user: false);
        value = buffer;
        return ok;
    }

    /// <summary>An implicit supervisor-mode write (descriptor accessed/busy bits, TSS saves).</summary>
    public bool WriteSystem<T>(ulong linear, ulong value) where T : unmanaged
    {
        ref TlbEntry e = ref WriteTlb[(int)(linear >> 12) & (TlbEntries - 1)];
        if (e.Tag == ((linear + (ulong)(sizeof(T) - 1)) & ~PageMask))
        {
            Store<T>(linear + e.Delta, value);
            return true;
        }
        return Access(linear, (byte*)&value, sizeof(T), AccessType.Write, user: false);
    }

    public bool ReadSystemBytes(ulong linear, byte* destination, int length) =>
        Access(linear, destination, length, AccessType.Read, user: false);

    public bool WriteSystemBytes(ulong linear, byte* source, int length) =>
        Access(linear, source, length, AccessType.Write, user: false);

    /// <summary>
    /// Checks that a later write to [linear, linear+size) cannot fault, so an instruction can do all its checks
    /// before it changes anything (read-modify-write forms read first, write last).
    /// </summary>
    public bool ProbeWrite(ulong linear, int size)
    {
        ref TlbEntry e = ref Unsafe.Add(ref WriteTlb[0], ((int)(linear >> 12) & (TlbEntries - 1)) + _tlbSet);
        if (e.Tag == ((linear + (ulong)(size - 1)) & ~PageMask)) return true;
        linear &= LinearMask;
        ulong last = (linear + (ulong)(size - 1)) & LinearMask;
        bool user = Cpl == 3;
        return Resolve(linear, AccessType.Write, user, out _, out _, out _)
               && ((last & ~PageMask) == (linear & ~PageMask) || Resolve(last, AccessType.Write, user, out _, out _, out _));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool ReadSlow<T>(ulong linear, out ulong value) where T : unmanaged
    {
        ulong buffer = 0;
        bool ok = ReadBytes(linear, (byte*)&buffer, sizeof(T));
        value = buffer;
        return ok;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool WriteSlow<T>(ulong linear, ulong value) where T : unmanaged =>
        WriteBytes(linear, (byte*)&value, sizeof(T));

    /// <summary>Reads any number of bytes (up to a page), splitting at the page boundary; both pages are translated first.</summary>
    public bool ReadBytes(ulong linear, byte* destination, int length) =>
        Access(linear, destination, length, AccessType.Read, Cpl == 3);

    public bool WriteBytes(ulong linear, byte* source, int length) =>
        Access(linear, source, length, AccessType.Write, Cpl == 3);

    private bool Access(ulong linear, byte* buffer, int length, AccessType access, bool user)
    {
        linear &= LinearMask;
        int first = (int)Math.Min((ulong)length, 0x1000 - (linear & PageMask));
        ulong second = (linear + (ulong)first) & LinearMask;
        if (!Resolve(linear, access, user, out byte* h1, out ulong p1, out var k1)) return false;
        byte* h2 = null;
        ulong p2 = 0;
        var k2 = PageKind.Ram;
        if (first < length && !Resolve(second, access, user, out h2, out p2, out k2)) return false;
        if ((DebugArmed & global::Hypervisor.BinaryTranslation.System.DebugBreakpoints.ArmedData) != 0)
            global::Hypervisor.BinaryTranslation.System.DebugBreakpoints.MatchData(this, linear, length, access == AccessType.Write);
        if (access == AccessType.Write)
        {
            CopyOut(h1, p1, k1, buffer, first);
            if (first < length) CopyOut(h2, p2, k2, buffer + first, length - first);
        }
        else
        {
            CopyIn(h1, p1, k1, buffer, first);
            if (first < length) CopyIn(h2, p2, k2, buffer + first, length - first);
        }
        return true;
    }

    private void CopyIn(byte* host, ulong physical, PageKind kind, byte* destination, int length)
    {
        if (kind == PageKind.Mmio)
        {
            // The local APIC page is per CPU (every CPU sees its own APIC there), so it is asked before the bus.
            var data = new Span<byte>(destination, length);
            if (LocalApic == null || !LocalApic.TryRead(physical, data)) Memory.MmioRead(physical, data);
        }
        else
        {
            Buffer.MemoryCopy(host, destination, length, length);
        }
    }

    private void CopyOut(byte* host, ulong physical, PageKind kind, byte* source, int length)
    {
        if (kind == PageKind.Mmio)
        {
            var data = new ReadOnlySpan<byte>(source, length);
            if (LocalApic == null || !LocalApic.TryWrite(physical, data)) Memory.MmioWrite(physical, data);
        }
        else if (kind == PageKind.Ram) Buffer.MemoryCopy(source, host, length, length);
        // PageKind.Rom: the guest's write is dropped, as on a PC's flash.
    }

    private enum PageKind : byte { Ram, Rom, Mmio }

    /// <summary>
    /// Translates one linear address and fills the TLB set of the requester for RAM. A write to a code page first
    /// invalidates the page's decoded blocks (self-modifying code, DMA'd code).
    /// </summary>
    private bool Resolve(ulong linear, AccessType access, bool user, out byte* host, out ulong physical, out PageKind kind)
    {
        host = null;
        kind = PageKind.Mmio;
        SyncA20();
        if (!Memory.Mmu.Translate(this, linear, access, user, out var t))
        {
            physical = 0;
            return false;
        }
        physical = t.Physical;
        ulong page = physical & ~PageMask;
        byte* hostPage = Memory.HostPage(page, out bool readOnly);
        if (hostPage == null) return true;
        host = hostPage + (physical & PageMask);
        kind = readOnly ? PageKind.Rom : PageKind.Ram;
        ulong linearPage = linear & ~PageMask;
        ulong delta = (ulong)hostPage - linearPage;
        int index = ((int)(linear >> 12) & (TlbEntries - 1)) + (user ? TlbEntries : 0);
        byte attributes = (byte)(t.PageShift | ((t.Rights & PageRights.Global) != 0 ? GlobalAttribute : 0));
        if (t.PageShift > 12) _largeEntries = true;

        // A page holding a data breakpoint stays out of the TLB, so every access to it comes here and is matched.
        bool watched = WatchedPageCount != 0 && IsWatchedPage(linearPage);

        // Any page the requester may write it may also read.
        if (!watched)
        {
            ReadTlb[index].Tag = linearPage;
            ReadTlb[index].Delta = delta;
            _readAttributes[index] = attributes;
        }
        if (readOnly) return true;
        bool mapWritable;
        if (access == AccessType.Write)
        {
            Memory.Code.OnCpuWrite(page);
            mapWritable = true;
        }
        else
        {
            // A later store to a dirty, writable page needs no walk: map it now (code pages stay on the slow path).
            mapWritable = (t.Rights & (PageRights.Writable | PageRights.Dirty)) == (PageRights.Writable | PageRights.Dirty)
                          && access == AccessType.Read && !Memory.Code.IsCode(page);
        }
        if (mapWritable && !watched)
        {
            WriteTlb[index].Tag = linearPage;
            WriteTlb[index].Delta = delta;
            _writeAttributes[index] = attributes;
        }
        return true;
    }

    /// <summary>
    /// Translates the page holding an instruction byte for the decoder. Returns false with a fault raised, or
    /// true with <paramref name="host"/> null when the code lies in MMIO space (not executable here).
    /// </summary>
    public bool TranslateCode(ulong linear, out byte* host, out ulong physical)
    {
        host = null;
        SyncA20();
        linear &= LinearMask;
        int index = ((int)(linear >> 12) & (TlbEntries - 1)) + _tlbSet;
        ref TlbEntry e = ref _codeTlb[index];
        if (e.Tag == (linear & ~PageMask))
        {
            physical = e.Delta | (linear & PageMask);
        }
        else
        {
            if (!Memory.Mmu.Translate(this, linear, AccessType.Execute, Cpl == 3, out var t))
            {
                physical = 0;
                return false;
            }
            physical = t.Physical;
            e.Tag = linear & ~PageMask;
            e.Delta = physical & ~PageMask;
            _codeAttributes[index] = (byte)(t.PageShift | ((t.Rights & PageRights.Global) != 0 ? GlobalAttribute : 0));
            if (t.PageShift > 12) _largeEntries = true;
        }
        byte* hostPage = Memory.HostPage(physical & ~PageMask, out _);
        if (hostPage != null) host = hostPage + (physical & PageMask);
        return true;
    }
}
