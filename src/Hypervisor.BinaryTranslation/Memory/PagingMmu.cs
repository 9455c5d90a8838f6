using Hypervisor.BinaryTranslation.State;
using static Hypervisor.BinaryTranslation.Memory.PagingBits;

namespace Hypervisor.BinaryTranslation.Memory;

/// <summary>
/// The paging MMU (Intel SDM Vol. 3, chapter 4; AMD APM Vol. 2, chapter 5): 32-bit paging (4 KiB pages, 4 MiB pages
/// with CR4.PSE and PSE-36 high bits), PAE paging through the cached PDPTE registers, and 4-level paging with 2 MiB
/// and 1 GiB pages. It checks reserved bits, U/S against the requester, R/W with CR0.WP, XD with EFER.NXE and SMEP;
/// sets the accessed flag of each entry it uses and the dirty flag of the entry that maps the page on a write,
/// with a locked compare-exchange on guest memory (a lost race restarts the walk, as the processor's locked update
/// does); and raises #PF with the architectural error code. Page tables are guest-physical: an entry outside RAM is
/// read through the bus (MMIO, or all-ones when nothing decodes it) and its flags are never written.
/// There are no paging-structure caches: every TLB miss walks from CR3, so INVLPG and MOV CR3 need not track them.
/// </summary>
public sealed unsafe class PagingMmu : Mmu
{
    public override bool Translate(CpuContext cpu, ulong linear, AccessType access, bool user, out Translation result)
    {
        var a = cpu.Architectural;
        if ((a.Cr0 & Cr0Pg) == 0) return base.Translate(cpu, linear, access, user, out result);
        result = default;
        if (!IsCanonical(cpu, linear)) return cpu.Fault(Vectors.GeneralProtection, 0);
        while (true)
        {
            Walk walk;
            if ((a.Cr4 & Cr4Pae) == 0) walk = Walk32(cpu, linear, access, user, ref result);
            else if ((a.Efer & EferLma) != 0) walk = Walk64(cpu, linear, access, user, levels: 4, ref result);
            else walk = Walk64(cpu, linear, access, user, levels: 2, ref result);
            if (walk == Walk.Done) return true;
            if (walk == Walk.Faulted) return false;
            // Walk.Retry: an entry changed between the read and the locked flag update; walk again.
        }
    }

    private enum Walk : byte { Done, Faulted, Retry }

    /// <summary>Bits (MAXPHYADDR-1):0, with MAXPHYADDR from CPUID.80000008H:EAX[7:0] (Intel SDM Vol. 3, 4.1.4).</summary>
    public static ulong PhysicalAddressMask(CpuContext cpu)
    {
        int bits = (int)(cpu.Cpuid.Query(0x8000_0008, 0).Eax & 0xFF);
        bits = Math.Clamp(bits == 0 ? 36 : bits, 32, 52);
        return (1UL << bits) - 1;
    }

    private static bool Supports1GbPages(CpuContext cpu) => (cpu.Cpuid.Query(0x8000_0001, 0).Edx & CpuidPage1Gb) != 0;

    /// <summary>PAE paging and 4-level paging: 64-bit entries, <paramref name="levels"/> of them walked in memory.</summary>
    private static Walk Walk64(CpuContext cpu, ulong linear, AccessType access, bool user, int levels, ref Translation result)
    {
        var a = cpu.Architectural;
        var space = cpu.Memory;
        ulong a20 = space.A20Mask;
        bool nxe = (a.Efer & EferNxe) != 0;
        ulong physicalMask = PhysicalAddressMask(cpu);
        ulong addressMask = physicalMask & ~0xFFFUL;
        // PAE entries reserve 62:M; 4-level entries reserve 51:M and leave 62:52 to software (protection keys).
        ulong reserved = (levels == 4 ? (1UL << 52) - 1 : ~ExecuteDisable) & ~physicalMask;
        if (!nxe) reserved |= ExecuteDisable;

        ulong table;
        if (levels == 4)
        {
            table = a.Cr3 & addressMask;
        }
        else
        {
            ulong pdpte = cpu.Pdptes[(int)(linear >> 30) & 3];
            if ((pdpte & Present) == 0) return NotPresent(cpu, linear, access, user);
            if ((pdpte & (PaePdpteReserved | ~physicalMask)) != 0)
                return Fault(cpu, linear, access, user, PageFaultError.Present | PageFaultError.Reserved);
            table = pdpte & addressMask;
        }

        bool writable = true, userPage = true, executeDisable = false;
        for (int level = levels; ; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong entryAddress = (table + ((linear >> shift) & 0x1FF) * 8) & a20;
            ulong entry = ReadEntry(space, entryAddress, 8, out byte* host);
            if ((entry & Present) == 0) return NotPresent(cpu, linear, access, user);

            ulong rsvd = reserved;
            bool leaf = level == 1;
            if (level == 4) rsvd |= PageSize;
            else if (level == 3 && (entry & PageSize) != 0)
            {
                if (Supports1GbPages(cpu)) rsvd |= 0x3FFF_E000; // 29:13
                else rsvd |= PageSize;
                leaf = true;
            }
            else if (level == 2 && (entry & PageSize) != 0)
            {
                rsvd |= 0x1F_E000; // 20:13
                leaf = true;
            }
            if ((entry & rsvd) != 0)
                return Fault(cpu, linear, access, user, PageFaultError.Present | PageFaultError.Reserved);

            writable &= (entry & ReadWrite) != 0;
            userPage &= (entry & UserSupervisor) != 0;
            executeDisable |= nxe && (entry & ExecuteDisable) != 0;
            if (!leaf)
            {
                if (!SetFlags(space, host, entryAddress, entry, Accessed)) return Walk.Retry;
                table = entry & addressMask;
                continue;
            }

            if (!Allowed(cpu, access, user, writable, userPage, executeDisable))
                return Fault(cpu, linear, access, user, PageFaultError.Present);
            ulong flags = Accessed | (access == AccessType.Write ? Dirty : 0);
            if (!SetFlags(space, host, entryAddress, entry, flags)) return Walk.Retry;

            ulong offsetMask = (1UL << shift) - 1;
            result.Physical = ((entry & addressMask & ~offsetMask) | (linear & offsetMask)) & a20;
            result.PageShift = (byte)shift;
            result.Rights = Rights(cpu, user, writable, (entry | flags & Dirty) & Dirty, entry & Global);
            return Walk.Done;
        }
    }

    /// <summary>32-bit paging: 32-bit entries, a page directory at CR3[31:12], 4 MiB pages when CR4.PSE = 1.</summary>
    private static Walk Walk32(CpuContext cpu, ulong linear, AccessType access, bool user, ref Translation result)
    {
        var a = cpu.Architectural;
        var space = cpu.Memory;
        ulong a20 = space.A20Mask;

        ulong pdeAddress = ((a.Cr3 & 0xFFFF_F000) | ((linear >> 20) & 0xFFC)) & a20;
        ulong pde = ReadEntry(space, pdeAddress, 4, out byte* pdeHost);
        if ((pde & Present) == 0) return NotPresent(cpu, linear, access, user);

        if ((pde & PageSize) != 0 && (a.Cr4 & Cr4Pse) != 0)
        {
            // PSE-36: PDE bits 20:13 are physical bits 39:32, up to MAXPHYADDR (at most 40 here); bit 21 is reserved.
            int high = Math.Min(BitLength(PhysicalAddressMask(cpu)), 40) - 32;
            ulong rsvd = 0x3F_E000UL & ~((1UL << (13 + high)) - 1);
            if ((pde & rsvd) != 0)
                return Fault(cpu, linear, access, user, PageFaultError.Present | PageFaultError.Reserved);
            bool w = (pde & ReadWrite) != 0, u = (pde & UserSupervisor) != 0;
            if (!Allowed(cpu, access, user, w, u, executeDisable: false))
                return Fault(cpu, linear, access, user, PageFaultError.Present);
            ulong flags = Accessed | (access == AccessType.Write ? Dirty : 0);
            if (!SetFlags32(space, pdeHost, pdeAddress, pde, flags)) return Walk.Retry;
            ulong frame = (pde & 0xFFC0_0000) | ((pde >> 13) & 0xFF) << 32;
            result.Physical = (frame | (linear & 0x3F_FFFF)) & a20;
            result.PageShift = 22;
            result.Rights = Rights(cpu, user, w, (pde | flags & Dirty) & Dirty, pde & Global);
            return Walk.Done;
        }

        if (!SetFlags32(space, pdeHost, pdeAddress, pde, Accessed)) return Walk.Retry;
        ulong pteAddress = ((pde & 0xFFFF_F000) | ((linear >> 10) & 0xFFC)) & a20;
        ulong pte = ReadEntry(space, pteAddress, 4, out byte* pteHost);
        if ((pte & Present) == 0) return NotPresent(cpu, linear, access, user);
        bool writable = (pde & pte & ReadWrite) != 0, userPage = (pde & pte & UserSupervisor) != 0;
        if (!Allowed(cpu, access, user, writable, userPage, executeDisable: false))
            return Fault(cpu, linear, access, user, PageFaultError.Present);
        ulong pteFlags = Accessed | (access == AccessType.Write ? Dirty : 0);
        if (!SetFlags32(space, pteHost, pteAddress, pte, pteFlags)) return Walk.Retry;
        result.Physical = ((pte & 0xFFFF_F000) | (linear & 0xFFF)) & a20;
        result.PageShift = 12;
        result.Rights = Rights(cpu, user, writable, (pte | pteFlags & Dirty) & Dirty, pte & Global);
        return Walk.Done;
    }

    /// <summary>Access rights (Intel SDM Vol. 3, 4.6.1), without protection keys and SMAP (not offered).</summary>
    private static bool Allowed(CpuContext cpu, AccessType access, bool user, bool writable, bool userPage, bool executeDisable)
    {
        if (user && !userPage) return false;
        switch (access)
        {
            case AccessType.Write:
                return writable || (!user && (cpu.Architectural.Cr0 & Cr0Wp) == 0);
            case AccessType.Execute:
                if (executeDisable) return false;
                // SMEP: supervisor-mode fetches from user-mode pages fault.
                return user || !userPage || (cpu.Architectural.Cr4 & Cr4Smep) == 0;
            default:
                return true;
        }
    }

    private static PageRights Rights(CpuContext cpu, bool user, bool writable, ulong dirty, ulong global)
    {
        var rights = PageRights.None;
        if (writable || (!user && (cpu.Architectural.Cr0 & Cr0Wp) == 0)) rights |= PageRights.Writable;
        if (dirty != 0) rights |= PageRights.Dirty;
        if (global != 0 && (cpu.Architectural.Cr4 & Cr4Pge) != 0) rights |= PageRights.Global;
        return rights;
    }

    private static Walk NotPresent(CpuContext cpu, ulong linear, AccessType access, bool user) =>
        Fault(cpu, linear, access, user, 0);

    private static Walk Fault(CpuContext cpu, ulong linear, AccessType access, bool user, uint code)
    {
        var a = cpu.Architectural;
        if (access == AccessType.Write) code |= PageFaultError.Write;
        if (user) code |= PageFaultError.User;
        // I/D is reported with SMEP, or with PAE/4-level paging and EFER.NXE (Intel SDM Vol. 3, 4.7).
        if (access == AccessType.Execute
            && ((a.Cr4 & Cr4Smep) != 0 || ((a.Cr4 & Cr4Pae) != 0 && (a.Efer & EferNxe) != 0)))
            code |= PageFaultError.InstructionFetch;
        cpu.PageFault(linear, code);
        return Walk.Faulted;
    }

    private static int BitLength(ulong mask) => 64 - global::System.Numerics.BitOperations.LeadingZeroCount(mask);

    /// <summary>
    /// Reads a paging-structure entry (naturally aligned, so within one page). <paramref name="host"/> is where its
    /// flags may be updated: null for ROM and MMIO, whose entries are used but never written.
    /// </summary>
    private static ulong ReadEntry(AddressSpace space, ulong address, int size, out byte* host)
    {
        byte* page = space.HostPage(address & ~0xFFFUL, out bool readOnly);
        if (page == null)
        {
            host = null;
            ulong value = 0;
            space.MmioRead(address, new Span<byte>(&value, size));
            return value;
        }
        byte* p = page + (address & 0xFFF);
        host = readOnly ? null : p;
        return size == 8 ? Volatile.Read(ref *(ulong*)p) : Volatile.Read(ref *(uint*)p);
    }

    /// <summary>A 64-bit physical read for the PDPTE load (outside RAM: through the bus).</summary>
    internal static ulong ReadPhysical64(AddressSpace space, ulong address) => ReadEntry(space, address, 8, out _);

    /// <summary>
    /// Sets flags in an entry with a locked compare-exchange against the value the walk used; false when another
    /// agent changed the entry meanwhile. A page-table page that also holds decoded code loses its blocks first.
    /// </summary>
    private static bool SetFlags(AddressSpace space, byte* host, ulong address, ulong entry, ulong flags)
    {
        if ((entry & flags) == flags || host == null) return true;
        space.Code.OnCpuWrite(address);
        return Interlocked.CompareExchange(ref *(long*)host, (long)(entry | flags), (long)entry) == (long)entry;
    }

    private static bool SetFlags32(AddressSpace space, byte* host, ulong address, ulong entry, ulong flags)
    {
        if ((entry & flags) == flags || host == null) return true;
        space.Code.OnCpuWrite(address);
        return Interlocked.CompareExchange(ref *(int*)host, (int)(uint)(entry | flags), (int)(uint)entry) == (int)(uint)entry;
    }
}
