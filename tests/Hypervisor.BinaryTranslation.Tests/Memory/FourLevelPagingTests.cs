using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.Tests.Memory;

/// <summary>4-level paging (Intel SDM Vol. 3, 4.5) through CpuContext's accesses, with hand-built tables.</summary>
public class FourLevelPagingTests
{
    private const uint P = 1, W = 2, U = 4, Rsvd = 8, Id = 16;
    private const ulong Accessed = 0x20, Dirty = 0x40;

    [Fact]
    public void FourKilobytePageSetsAccessedOnEveryLevelAndDirtyOnlyOnTheLeafForAWrite()
    {
        using var f = new PagingFixture();
        const ulong linear = 0x7F_1234_5000;
        ulong pte = f.Map4(linear, 0x8000, 7);
        f.Memory.Write(0x8123UL, 0x1122_3344_5566_7788UL);
        f.Enter(PagingMode.FourLevel);

        Assert.True(f.Read(linear + 0x123, out ulong v));
        Assert.Equal(0x1122_3344_5566_7788UL, v);
        for (int level = 4; level >= 1; level--)
            Assert.Equal(Accessed, f.Read64(f.Entry4Address(linear, level)) & (Accessed | Dirty));

        Assert.True(f.Write(linear + 0x10, 42));
        Assert.Equal(42UL, f.Read64(0x8010));
        Assert.Equal(Accessed | Dirty, f.Read64(pte) & (Accessed | Dirty));
        for (int level = 4; level >= 2; level--)
            Assert.Equal(0UL, f.Read64(f.Entry4Address(linear, level)) & Dirty);
    }

    [Fact]
    public void TwoMegabytePageMapsTheLow21BitsThrough()
    {
        using var f = new PagingFixture();
        ulong pde = f.Map4(0x4000_0000, 0x20_0000, 3, leafLevel: 2);
        f.Memory.Write(0x21_2345UL, 0xABCDUL);
        f.Enter(PagingMode.FourLevel);
        Assert.True(f.Cpu.Read<ushort>(0x4001_2345, out ulong v));
        Assert.Equal(0xABCDUL, v);
        Assert.True(f.Write(0x401F_FFF0, 1));
        Assert.Equal(1UL, f.Read64(0x3F_FFF0));
        Assert.Equal(Accessed | Dirty, f.Read64(pde) & (Accessed | Dirty));
    }

    [Fact]
    public void TwoMegabytePageWithBitsTwentyToThirteenSetIsReserved()
    {
        using var f = new PagingFixture();
        f.Map4(0x4000_0000, 0x20_0000 | 0x2000, 3, leafLevel: 2);
        f.Enter(PagingMode.FourLevel);
        Assert.False(f.Read(0x4000_0000, out _));
        f.AssertPageFault(0x4000_0000, P | Rsvd);
    }

    [Fact]
    public void OneGigabytePageIsReservedUnlessCpuidOffersIt()
    {
        using var f = new PagingFixture();
        const ulong linear = 0x80_0000_0000;
        f.Map4(linear, 0, 3, leafLevel: 3);
        f.Memory.Write(0x5008UL, 77UL);
        f.Cpu.Cpuid.Ext1Edx &= ~(1u << 26);
        f.Enter(PagingMode.FourLevel);
        Assert.False(f.Read(linear + 0x5008, out _));
        f.AssertPageFault(linear + 0x5008, P | Rsvd);

        f.Cpu.Cpuid.Ext1Edx |= 1u << 26;
        Assert.True(f.Read(linear + 0x5008, out ulong v));
        Assert.Equal(77UL, v);
    }

    [Fact]
    public void OneGigabytePageWithBitsTwentyNineToThirteenSetIsReserved()
    {
        using var f = new PagingFixture();
        f.Cpu.Cpuid.Ext1Edx |= 1u << 26;
        f.Map4(0x80_0000_0000, 0x1000_0000, 3, leafLevel: 3);
        f.Enter(PagingMode.FourLevel);
        Assert.False(f.Read(0x80_0000_0000, out _));
        f.AssertPageFault(0x80_0000_0000, P | Rsvd);
    }

    [Fact]
    public void NotPresentFaultsCarryTheAccessKind()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x1000, 7);
        f.Enter(PagingMode.FourLevel, nxe: true);
        const ulong missing = 0x20_0000; // same PD, no page table
        Assert.False(f.Read(missing, out _));
        f.AssertPageFault(missing, 0);
        Assert.False(f.Write(missing + 8, 1));
        f.AssertPageFault(missing + 8, W);
        Assert.False(f.Fetch(missing));
        f.AssertPageFault(missing, Id);

        f.SetCpl(3);
        Assert.False(f.Write(missing, 1));
        f.AssertPageFault(missing, W | U);
        Assert.False(f.Read(0x7FFF_0000_0000, out _));
        f.AssertPageFault(0x7FFF_0000_0000, U);
    }

    [Fact]
    public void InstructionFetchIsReportedOnlyWithNxe()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x1000, 7);
        f.Enter(PagingMode.FourLevel);
        Assert.False(f.Fetch(0x5000));
        f.AssertPageFault(0x5000, 0);
    }

    [Fact]
    public void ReservedBitsFault()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x1000, 7);
        f.Map4(0x80_0000_1000, 0x2000, 7);
        f.Map4(0x2000, 0x2000 | (1UL << 45), 7); // above MAXPHYADDR (40)
        f.Map4(0x3000, 0x3000 | (1UL << 63), 7); // XD with EFER.NXE = 0
        f.Map4(0x4000, 0x4000 | (1UL << 60), 7); // 62:52 are free for software in 4-level entries
        f.Enter(PagingMode.FourLevel);

        // PML4E bit 7 is reserved.
        ulong pml4e = f.Entry4Address(0x80_0000_1000, 4);
        f.Memory.Write(pml4e, f.Read64(pml4e) | 0x80);
        Assert.False(f.Read(0x80_0000_1000, out _));
        f.AssertPageFault(0x80_0000_1000, P | Rsvd);

        Assert.False(f.Write(0x2000, 0));
        f.AssertPageFault(0x2000, P | W | Rsvd);
        Assert.False(f.Read(0x3000, out _));
        f.AssertPageFault(0x3000, P | Rsvd);
        Assert.True(f.Read(0x4000, out _));

        f.SetCpl(3);
        Assert.False(f.Read(0x2008, out _));
        f.AssertPageFault(0x2008, P | U | Rsvd);
    }

    [Fact]
    public void ExecuteDisableStopsFetchesAtAnyLevel()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x1000, 7 | (1UL << 63));
        f.Map4(0x80_0000_0000, 0x2000, 7, upper: 7 | (1UL << 63)); // XD from the PML4E down
        f.Map4(0x2000, 0x2000, 7);
        f.Enter(PagingMode.FourLevel, nxe: true);
        Assert.True(f.Read(0x1000, out _));
        Assert.False(f.Fetch(0x1000));
        f.AssertPageFault(0x1000, P | Id);
        Assert.False(f.Fetch(0x80_0000_0000));
        f.AssertPageFault(0x80_0000_0000, P | Id);
        Assert.True(f.Fetch(0x2000));
    }

    [Fact]
    public unsafe void FetchTranslationsAreCachedUntilInvalidated()
    {
        using var f = new PagingFixture();
        ulong code = f.Map4(0x1000, 0x5000, 7);
        ulong global = f.Map4(0x2000, 0x6000, 7 | 0x100);
        f.Enter(PagingMode.FourLevel, nxe: true, pge: true);
        Assert.True(f.Cpu.TranslateCode(0x1010, out _, out ulong p));
        Assert.Equal(0x5010UL, p);
        Assert.True(f.Fetch(0x2000));

        // The guest sets XD without invalidating: the cached translation stays (as the processor's may).
        f.Memory.Write(code, 0x5000UL | 7 | 1UL << 63);
        f.Memory.Write(global, 0x7000UL | 7 | 0x100);
        Assert.True(f.Fetch(0x1000));
        f.Cpu.InvalidatePage(0x1000);
        Assert.False(f.Fetch(0x1000));
        f.AssertPageFault(0x1000, P | Id);

        f.Cpu.FlushTlb();
        Assert.True(f.Cpu.TranslateCode(0x2000, out _, out p));
        Assert.Equal(0x6000UL, p); // global: kept across MOV CR3
        f.Cpu.FlushTlbAll();
        Assert.True(f.Cpu.TranslateCode(0x2000, out _, out p));
        Assert.Equal(0x7000UL, p);

        // Fetch rights are per privilege: a supervisor fetch does not open the page to CPL 3.
        f.Map4(0x3000, 0x3000, 3);
        Assert.True(f.Fetch(0x3000));
        f.SetCpl(3);
        Assert.False(f.Fetch(0x3000));
        f.AssertPageFault(0x3000, P | U | Id);
    }

    [Fact]
    public void UserAccessToSupervisorPageFaultsEvenAfterASupervisorAccessFilledTheTlb()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x1000, 3);                  // supervisor leaf
        f.Map4(0x80_0000_0000, 0x2000, 7, upper: 3); // supervisor from the PML4E down, user leaf
        f.Map4(0x3000, 0x3000, 7);
        f.Enter(PagingMode.FourLevel);
        Assert.True(f.Read(0x1000, out _));
        Assert.True(f.Write(0x1008, 5));
        Assert.True(f.Read(0x80_0000_0000, out _));

        f.SetCpl(3);
        Assert.False(f.Read(0x1000, out _));
        f.AssertPageFault(0x1000, P | U);
        Assert.False(f.Write(0x1008, 6));
        f.AssertPageFault(0x1008, P | W | U);
        Assert.False(f.Read(0x80_0000_0000, out _));
        f.AssertPageFault(0x80_0000_0000, P | U);
        Assert.False(f.Fetch(0x1000));
        f.AssertPageFault(0x1000, P | U);
        Assert.True(f.Write(0x3000, 9));

        f.SetCpl(0);
        Assert.True(f.Read(0x1008, out ulong v));
        Assert.Equal(5UL, v);
    }

    [Fact]
    public void WriteProtectGovernsSupervisorWritesToReadOnlyPages()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x1000, 5);            // user, read-only
        f.Map4(0x80_0000_2000, 0x2000, 7, upper: 5);  // read-only from the PML4E down
        f.Enter(PagingMode.FourLevel, wp: false);
        Assert.True(f.Write(0x1000, 1));
        Assert.True(f.Write(0x80_0000_2000, 2));

        f.Enter(PagingMode.FourLevel, wp: true);
        Assert.True(f.Read(0x1000, out ulong v));
        Assert.Equal(1UL, v);
        Assert.False(f.Write(0x1000, 3));
        f.AssertPageFault(0x1000, P | W);
        Assert.False(f.Write(0x80_0000_2000, 3));
        f.AssertPageFault(0x80_0000_2000, P | W);

        f.Enter(PagingMode.FourLevel, cpl: 3, wp: false);
        Assert.False(f.Write(0x1000, 4));
        f.AssertPageFault(0x1000, P | W | U);
    }

    [Fact]
    public void ClearingWriteProtectLetsTheSupervisorWriteWithoutAnExplicitFlush()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x1000, 5);
        f.Enter(PagingMode.FourLevel, wp: true);
        Assert.False(f.Write(0x1000, 1));
        f.AssertPageFault(0x1000, P | W);
        f.Cpu.Architectural.Cr0 &= ~PagingFixture.Cr0Wp;
        f.Cpu.UpdateMode();
        Assert.True(f.Write(0x1000, 1));
        f.Cpu.Architectural.Cr0 |= PagingFixture.Cr0Wp;
        f.Cpu.UpdateMode();
        Assert.False(f.Write(0x1000, 2));
        f.AssertPageFault(0x1000, P | W);
    }

    [Fact]
    public void AWriteAfterAReadOfACleanPageSetsTheDirtyFlag()
    {
        using var f = new PagingFixture();
        ulong pte = f.Map4(0x1000, 0x1000, 7);
        f.Enter(PagingMode.FourLevel);
        Assert.True(f.Read(0x1000, out _));
        Assert.Equal(Accessed, f.Read64(pte) & (Accessed | Dirty));
        Assert.True(f.Write(0x1000, 1));
        Assert.Equal(Accessed | Dirty, f.Read64(pte) & (Accessed | Dirty));

        // The guest cleans the page and invalidates it: the next write must set D again.
        f.Memory.Write(pte, f.Read64(pte) & ~Dirty);
        f.Cpu.InvalidatePage(0x1000);
        Assert.True(f.Read(0x1008, out _));
        Assert.True(f.Write(0x1008, 2));
        Assert.Equal(Dirty, f.Read64(pte) & Dirty);
    }

    [Fact]
    public void AFaultingAccessLeavesTheLeafAccessedFlagClear()
    {
        using var f = new PagingFixture();
        ulong pte = f.Map4(0x1000, 0x1000, 3);
        f.Enter(PagingMode.FourLevel, cpl: 3);
        Assert.False(f.Read(0x1000, out _));
        f.AssertPageFault(0x1000, P | U);
        Assert.Equal(0UL, f.Read64(pte) & (Accessed | Dirty));
    }

    /// <summary>
    /// With CR4.PGE: a global page at 0x1000 (frame 0x5000, holding 1) and a non-global one at 0x2000 (frame 0x6000,
    /// holding 2), both read once so their translations are cached, then both PTEs pointed at frame 0x7000 (holding
    /// 3) without an invalidation.
    /// </summary>
    private static void CacheGlobalAndLocalThenRemap(PagingFixture f)
    {
        ulong global = f.Map4(0x1000, 0x5000, 7 | 0x100);
        ulong local = f.Map4(0x2000, 0x6000, 7);
        f.Memory.Write(0x5000UL, 1UL);
        f.Memory.Write(0x6000UL, 2UL);
        f.Memory.Write(0x7000UL, 3UL);
        f.Enter(PagingMode.FourLevel, pge: true);
        Assert.True(f.Read(0x1000, out _));
        Assert.True(f.Read(0x2000, out _));
        f.Memory.Write(global, 0x7000UL | 7 | 0x100);
        f.Memory.Write(local, 0x7000UL | 7);
    }

    [Fact]
    public void FlushTlbKeepsGlobalPagesOnlyWithPge()
    {
        using var f = new PagingFixture();
        CacheGlobalAndLocalThenRemap(f);

        f.Cpu.FlushTlb();
        Assert.True(f.Read(0x1000, out ulong g));
        Assert.True(f.Read(0x2000, out ulong l));
        Assert.Equal(1UL, g);
        Assert.Equal(3UL, l);

        f.Cpu.FlushTlbAll();
        Assert.True(f.Read(0x1000, out g));
        Assert.Equal(3UL, g);
    }

    [Fact]
    public void WithoutPgeTheGlobalFlagIsIgnored()
    {
        using var f = new PagingFixture();
        ulong global = f.Map4(0x1000, 0x5000, 7 | 0x100);
        f.Memory.Write(0x5000UL, 1UL);
        f.Memory.Write(0x7000UL, 3UL);
        f.Enter(PagingMode.FourLevel, pge: false);
        Assert.True(f.Read(0x1000, out _));
        f.Memory.Write(global, 0x7000UL | 7 | 0x100);
        f.Cpu.FlushTlb();
        Assert.True(f.Read(0x1000, out ulong g));
        Assert.Equal(3UL, g);
    }

    [Fact]
    public void InvalidatePageDropsOnlyThatPageGlobalOrNot()
    {
        using var f = new PagingFixture();
        CacheGlobalAndLocalThenRemap(f);

        f.Cpu.InvalidatePage(0x1234);
        Assert.True(f.Read(0x1000, out ulong va));
        Assert.True(f.Read(0x2000, out ulong vb));
        Assert.Equal(3UL, va);
        Assert.Equal(2UL, vb); // still the cached translation, as on hardware
    }

    [Fact]
    public void InvalidatePageDropsEveryPieceOfALargePage()
    {
        using var f = new PagingFixture();
        ulong pde = f.Map4(0x4000_0000, 0x20_0000, 3, leafLevel: 2);
        f.Memory.Write(0x20_1000UL, 1UL);
        f.Memory.Write(0x3F_F000UL, 2UL);
        f.Enter(PagingMode.FourLevel);
        Assert.True(f.Read(0x4000_1000, out _));
        Assert.True(f.Read(0x401F_F000, out _));
        f.Memory.Write(pde, 0x40_0000UL | 3 | 0x80);
        f.Memory.Write(0x40_1000UL, 11UL);
        f.Memory.Write(0x5F_F000UL, 12UL);

        f.Cpu.InvalidatePage(0x4010_0000);
        Assert.True(f.Read(0x4000_1000, out ulong lo));
        Assert.True(f.Read(0x401F_F000, out ulong hi));
        Assert.Equal(11UL, lo);
        Assert.Equal(12UL, hi);
    }

    [Fact]
    public void ImplicitSupervisorAccessesIgnoreCplThree()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x1000, 3); // supervisor, writable
        f.Map4(0x2000, 0x2000, 1); // supervisor, read-only
        f.Memory.Write(0x1000UL, 0x55UL);
        f.Enter(PagingMode.FourLevel, cpl: 3, wp: true);

        Assert.False(f.Read(0x1000, out _));
        f.AssertPageFault(0x1000, P | U);
        Assert.True(f.Cpu.ReadSystem<ulong>(0x1000, out ulong v));
        Assert.Equal(0x55UL, v);
        Assert.True(f.Cpu.WriteSystem<uint>(0x1004, 0x66));
        Assert.Equal(0x66_0000_0055UL, f.Read64(0x1000));

        Assert.False(f.Cpu.WriteSystem<ushort>(0x2000, 1));
        f.AssertPageFault(0x2000, P | W);
        Assert.False(f.Cpu.ReadSystem<byte>(0x9000, out _));
        f.AssertPageFault(0x9000, 0);

        // What the system accesses cached must not leak to CPL 3.
        Assert.False(f.Read(0x1000, out _));
        f.AssertPageFault(0x1000, P | U);
    }

    [Fact]
    public unsafe void SystemByteAccessesSpanPagesAndTranslateBothFirst()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x8000, 3);
        f.Map4(0x2000, 0x3000, 3);
        f.Enter(PagingMode.FourLevel, cpl: 3);
        byte* data = stackalloc byte[16];
        for (int i = 0; i < 16; i++) data[i] = (byte)(i + 1);
        Assert.True(f.Cpu.WriteSystemBytes(0x1FF8, data, 16));
        Assert.Equal(0x0807_0605_0403_0201UL, f.Read64(0x8FF8));
        Assert.Equal(0x100F_0E0D_0C0B_0A09UL, f.Read64(0x3000));
        byte* back = stackalloc byte[16];
        Assert.True(f.Cpu.ReadSystemBytes(0x1FF8, back, 16));
        Assert.Equal(9, back[8]);

        Assert.False(f.Cpu.WriteSystemBytes(0x2FF8, data, 16));
        f.AssertPageFault(0x3000, W);
        Assert.Equal(0UL, f.Read64(0x3FF8)); // the first page was not written
    }

    [Fact]
    public void NonCanonicalAddressRaisesGeneralProtection()
    {
        using var f = new PagingFixture();
        f.Map4(0x1000, 0x1000, 7);
        f.Enter(PagingMode.FourLevel);
        Assert.False(f.Read(0x8000_0000_0000, out _));
        Assert.Equal(Vectors.GeneralProtection, f.Cpu.Exception.Vector);
    }

    [Fact]
    public void PageTablesOutsideRamFaultInsteadOfCrashing()
    {
        using var f = new PagingFixture();
        ulong pte = f.Map4(0x1000, 0x1000, 7);
        f.Enter(PagingMode.FourLevel);
        // A PDE pointing into unbacked space: the bus reads all-ones, a present entry with reserved bits.
        ulong pde = f.Entry4Address(0x1000, 2);
        f.Memory.Write(pde, 0xF0_0000_0000UL | 7);
        Assert.False(f.Read(0x1000, out _));
        f.AssertPageFault(0x1000, P | Rsvd);

        f.Memory.Write(pde, (pte & ~0xFFFUL) | 7);
        f.Memory.Write(pte, 0x40_0000_0000UL - 0x1000 | 7); // a data page outside RAM: MMIO, floats high
        f.Cpu.FlushTlbAll();
        Assert.True(f.Read(0x1000, out ulong v));
        Assert.Equal(ulong.MaxValue, v);
        Assert.True(f.Write(0x1000, 1));
    }
}
