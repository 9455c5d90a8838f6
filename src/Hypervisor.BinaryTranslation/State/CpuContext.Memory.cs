using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.Memory;

namespace Hypervisor.BinaryTranslation.State;

/// <summary>One software-TLB entry: the linear page it maps and host = linear + Delta.</summary>
public struct TlbEntry
{
    public ulong Tag;
    public ulong Delta;
}

[InlineArray(CpuContext.TlbEntries)]
public struct Tlb
{
    private TlbEntry _element0;
}

/// <summary>
/// Guest memory access: linear address -> software TLB hit -> host pointer; a miss goes through the MMU
/// (<see cref="Mmu.Translate"/>), then to RAM (filling the TLB), ROM or MMIO. Faults are values: an access that
/// faults returns false with <see cref="Exit"/> set, and the handler returns false at once.
/// </summary>
public sealed unsafe partial class CpuContext
{
    public const int TlbEntries = 256;
    private const ulong PageMask = 0xFFF;

    /// <summary>Never equal to a page-aligned tag.</summary>
    private const ulong InvalidTag = 1;

    public Tlb ReadTlb, WriteTlb;

    public void FlushTlb()
    {
        for (int i = 0; i < TlbEntries; i++)
        {
            ReadTlb[i].Tag = InvalidTag;
            WriteTlb[i].Tag = InvalidTag;
        }
        TranslationGeneration++;
    }

    /// <summary>Drops writable mappings of a host page that just became a code page.</summary>
    public void FlushWritableHostPage(ulong hostPage)
    {
        for (int i = 0; i < TlbEntries; i++)
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

    /// <summary>Reads T at a linear address, zero-extended.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Read<T>(ulong linear, out ulong value) where T : unmanaged
    {
        ref TlbEntry e = ref Unsafe.Add(ref ReadTlb[0], (int)(linear >> 12) & (TlbEntries - 1));
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
        ref TlbEntry e = ref Unsafe.Add(ref WriteTlb[0], (int)(linear >> 12) & (TlbEntries - 1));
        if (e.Tag == ((linear + (ulong)(sizeof(T) - 1)) & ~PageMask))
        {
            Store<T>(linear + e.Delta, value);
            return true;
        }
        return WriteSlow<T>(linear, value);
    }

    /// <summary>
    /// Checks that a later write to [linear, linear+size) cannot fault, so an instruction can do all its checks
    /// before it changes anything (read-modify-write forms read first, write last).
    /// </summary>
    public bool ProbeWrite(ulong linear, int size)
    {
        ref TlbEntry e = ref Unsafe.Add(ref WriteTlb[0], (int)(linear >> 12) & (TlbEntries - 1));
        if (e.Tag == ((linear + (ulong)(size - 1)) & ~PageMask)) return true;
        ulong last = (linear + (ulong)(size - 1)) & LinearMask;
        return Resolve(linear, AccessType.Write, out _, out _, out _)
               && ((last & ~PageMask) == (linear & ~PageMask) || Resolve(last, AccessType.Write, out _, out _, out _));
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

    /// <summary>Reads any number of bytes, splitting at page boundaries; both pages are translated first.</summary>
    public bool ReadBytes(ulong linear, byte* destination, int length)
    {
        linear &= LinearMask;
        int first = (int)Math.Min((ulong)length, 0x1000 - (linear & PageMask));
        ulong second = (linear + (ulong)first) & LinearMask;
        if (!Resolve(linear, AccessType.Read, out byte* h1, out ulong p1, out var k1)) return false;
        byte* h2 = null;
        ulong p2 = 0;
        var k2 = PageKind.Ram;
        if (first < length && !Resolve(second, AccessType.Read, out h2, out p2, out k2)) return false;
        CopyIn(h1, p1, k1, destination, first);
        if (first < length) CopyIn(h2, p2, k2, destination + first, length - first);
        return true;
    }

    public bool WriteBytes(ulong linear, byte* source, int length)
    {
        linear &= LinearMask;
        int first = (int)Math.Min((ulong)length, 0x1000 - (linear & PageMask));
        ulong second = (linear + (ulong)first) & LinearMask;
        if (!Resolve(linear, AccessType.Write, out byte* h1, out ulong p1, out var k1)) return false;
        byte* h2 = null;
        ulong p2 = 0;
        var k2 = PageKind.Ram;
        if (first < length && !Resolve(second, AccessType.Write, out h2, out p2, out k2)) return false;
        CopyOut(h1, p1, k1, source, first);
        if (first < length) CopyOut(h2, p2, k2, source + first, length - first);
        return true;
    }

    private void CopyIn(byte* host, ulong physical, PageKind kind, byte* destination, int length)
    {
        if (kind == PageKind.Mmio) Memory.MmioRead(physical, new Span<byte>(destination, length));
        else Buffer.MemoryCopy(host, destination, length, length);
    }

    private void CopyOut(byte* host, ulong physical, PageKind kind, byte* source, int length)
    {
        if (kind == PageKind.Mmio) Memory.MmioWrite(physical, new ReadOnlySpan<byte>(source, length));
        else if (kind == PageKind.Ram) Buffer.MemoryCopy(source, host, length, length);
        // PageKind.Rom: the guest's write is dropped, as on a PC's flash.
    }

    private enum PageKind : byte { Ram, Rom, Mmio }

    /// <summary>
    /// Translates one linear address and fills the TLB for RAM. A write to a code page first invalidates the
    /// page's decoded blocks (self-modifying code, DMA'd code).
    /// </summary>
    private bool Resolve(ulong linear, AccessType access, out byte* host, out ulong physical, out PageKind kind)
    {
        host = null;
        kind = PageKind.Mmio;
        if (!Memory.Mmu.Translate(this, linear, access, out physical)) return false;
        ulong page = physical & ~PageMask;
        byte* hostPage = Memory.HostPage(page, out bool readOnly);
        if (hostPage == null) return true;
        host = hostPage + (physical & PageMask);
        ulong linearPage = linear & ~PageMask;
        ulong delta = (ulong)hostPage - linearPage;
        if (access == AccessType.Write)
        {
            if (readOnly)
            {
                kind = PageKind.Rom;
                return true;
            }
            Memory.Code.OnCpuWrite(page);
            ref TlbEntry w = ref WriteTlb[(int)(linear >> 12) & (TlbEntries - 1)];
            w.Tag = linearPage;
            w.Delta = delta;
        }
        else
        {
            ref TlbEntry r = ref ReadTlb[(int)(linear >> 12) & (TlbEntries - 1)];
            r.Tag = linearPage;
            r.Delta = delta;
        }
        kind = readOnly ? PageKind.Rom : PageKind.Ram;
        return true;
    }

    /// <summary>
    /// Translates the page holding an instruction byte for the decoder. Returns false with a fault raised, or
    /// true with <paramref name="host"/> null when the code lies in MMIO space (not executable here).
    /// </summary>
    public bool TranslateCode(ulong linear, out byte* host, out ulong physical)
    {
        host = null;
        if (!Memory.Mmu.Translate(this, linear & LinearMask, AccessType.Execute, out physical)) return false;
        byte* hostPage = Memory.HostPage(physical & ~PageMask, out _);
        if (hostPage != null) host = hostPage + (physical & PageMask);
        return true;
    }
}
