using Hypervisor.BinaryTranslation.Memory;

namespace Hypervisor.BinaryTranslation.Tests.Memory;

/// <summary>32-bit paging (Intel SDM Vol. 3, 4.3) and PAE paging (4.4), and the MMU with paging off.</summary>
public class LegacyPagingTests
{
    private const uint P = 1, W = 2, U = 4, Rsvd = 8, Id = 16;
    private const uint Accessed = 0x20, Dirty = 0x40;

    [Fact]
    public void ThirtyTwoBitPagingTranslatesAndSetsAccessedAndDirty()
    {
        using var f = new PagingFixture();
        var (pde, pte) = f.Map32(0x8040_3000, 0x9000, 7);
        f.Memory.Write(0x9ABCUL, 0xDEAD_BEEFu);
        f.Enter(PagingMode.Bits32);
        Assert.True(f.Cpu.Read<uint>(0x8040_3ABC, out ulong v));
        Assert.Equal(0xDEAD_BEEFUL, v);
        Assert.Equal(Accessed, f.Read32(pde) & (Accessed | Dirty));
        Assert.Equal(Accessed, f.Read32(pte) & (Accessed | Dirty));
        Assert.True(f.Cpu.Write<uint>(0x8040_3000, 1));
        Assert.Equal(Accessed | Dirty, f.Read32(pte) & (Accessed | Dirty));
        Assert.Equal(0u, f.Read32(pde) & Dirty);
    }

    [Fact]
    public void ThirtyTwoBitFaultsCombineRightsOfBothLevels()
    {
        using var f = new PagingFixture();
        f.Map32(0x0040_0000, 0x1000, 7, pde: 5); // read-only directory entry
        f.Map32(0x0080_0000, 0x2000, 7, pde: 3); // supervisor directory entry
        f.Enter(PagingMode.Bits32, cpl: 3);
        Assert.True(f.Read(0x0040_0000, out _));
        Assert.False(f.Write(0x0040_0000, 1));
        f.AssertPageFault(0x0040_0000, P | W | U);
        Assert.False(f.Read(0x0080_0000, out _));
        f.AssertPageFault(0x0080_0000, P | U);
        Assert.False(f.Read(0x00C0_0000, out _));
        f.AssertPageFault(0x00C0_0000, U);
        // No execute-disable in 32-bit paging, and I/D only with SMEP.
        Assert.False(f.Fetch(0x00C0_0000));
        f.AssertPageFault(0x00C0_0000, U);
    }

    [Fact]
    public void FourMegabytePagesNeedPseAndReserveBit21()
    {
        using var f = new PagingFixture();
        f.NewTable();
        f.Memory.Write(f.Root + 1 * 4, 0x0040_0000u | 0x83);        // 4 MiB page at 4 MiB
        f.Memory.Write(f.Root + 2 * 4, 0x0040_0000u | 0x83 | 1u << 21);
        f.Memory.Write(0x41_2344UL, 0x1234_5678u);
        f.Enter(PagingMode.Bits32, pse: true);
        Assert.True(f.Cpu.Read<uint>(0x0041_2344, out ulong v));
        Assert.Equal(0x1234_5678UL, v);
        Assert.True(f.Cpu.Write<byte>(0x007F_FFFF, 1));
        Assert.Equal(Accessed | Dirty, f.Read32(f.Root + 4) & (Accessed | Dirty));
        Assert.False(f.Read(0x0080_0000, out _));
        f.AssertPageFault(0x0080_0000, P | Rsvd);

        // Without CR4.PSE the PS flag is ignored: the entry names a page table at 4 MiB.
        f.Memory.Write(0x40_0000UL + 0x12 * 4, 0x7000u | 7);
        f.Memory.Write(0x7344UL, 0x99u);
        f.Enter(PagingMode.Bits32, pse: false);
        Assert.True(f.Cpu.Read<uint>(0x0041_2344, out v));
        Assert.Equal(0x99UL, v);
    }

    [Fact]
    public void Pse36PutsDirectoryBits20To13AbovePhysicalBit32()
    {
        using var f = new PagingFixture();
        f.NewTable();
        f.Memory.Write(f.Root, 0x0040_0000u | 0x83 | 0x5u << 13);
        f.Enter(PagingMode.Bits32, pse: true);
        Assert.True(f.Space.Mmu.Translate(f.Cpu, 0x1234, AccessType.Read, false, out var t));
        Assert.Equal(0x5_0040_1234UL, t.Physical);
        Assert.Equal(22, t.PageShift);
    }

    [Fact]
    public void PaeUsesThePdpteRegistersLoadedWithCr3()
    {
        using var f = new PagingFixture();
        f.MapPae(0x4000_1000, 0x3000, 3);
        f.MapPae(0x8020_0000, 0x40_0000, 3, large: true);
        f.Memory.Write(0x3008UL, 5UL);
        f.Memory.Write(0x51_0000UL, 6UL);
        f.Enter(PagingMode.Pae);
        Assert.True(f.Read(0x4000_1008, out ulong v));
        Assert.Equal(5UL, v);
        Assert.True(f.Read(0x8031_0000, out v));
        Assert.Equal(6UL, v);

        // The processor does not re-read the PDPT on a walk: clearing the entry in memory changes nothing...
        ulong pdpte1 = f.Read64(f.Root + 8);
        f.Memory.Write(f.Root + 8, 0UL);
        f.Cpu.FlushTlbAll();
        Assert.True(f.Read(0x4000_1008, out v));
        Assert.Equal(5UL, v);
        // ...until the PDPTEs are loaded again (MOV CR3).
        Assert.True(f.Cpu.LoadPdptes());
        f.Cpu.FlushTlb();
        Assert.False(f.Read(0x4000_1008, out _));
        f.AssertPageFault(0x4000_1008, 0);

        // A present PDPTE with a reserved bit (2:1, 8:5, above MAXPHYADDR) is refused; the old registers stay.
        f.Memory.Write(f.Root + 8, pdpte1 | 2);
        Assert.False(f.Cpu.LoadPdptes());
        Assert.Equal(0UL, f.Cpu.Pdptes[1]);
        f.Memory.Write(f.Root + 8, pdpte1 | 1UL << 63);
        Assert.False(f.Cpu.LoadPdptes());
        f.Memory.Write(f.Root + 8, pdpte1);
        Assert.True(f.Cpu.LoadPdptes());
        Assert.Equal(pdpte1, f.Cpu.Pdptes[1]);
    }

    [Fact]
    public void PaeEntriesReserveBits62ToMaxPhysAndXdWithoutNxe()
    {
        using var f = new PagingFixture();
        f.MapPae(0x1000, 0x1000, 7 | 1UL << 60);
        f.MapPae(0x2000, 0x2000, 7 | 1UL << 63);
        f.MapPae(0x3000, 0x3000, 7);
        f.Enter(PagingMode.Pae);
        Assert.False(f.Read(0x1000, out _));
        f.AssertPageFault(0x1000, P | Rsvd);
        Assert.False(f.Fetch(0x2000));
        f.AssertPageFault(0x2000, P | Rsvd);

        f.Enter(PagingMode.Pae, nxe: true);
        Assert.True(f.Read(0x2000, out _));
        Assert.False(f.Fetch(0x2000));
        f.AssertPageFault(0x2000, P | Id);
        Assert.True(f.Fetch(0x3000));
        Assert.False(f.Fetch(0x4000));
        f.AssertPageFault(0x4000, Id);
    }

    [Fact]
    public void PaeLargePageReservesBits20To13()
    {
        using var f = new PagingFixture();
        f.MapPae(0x20_0000, 0x20_0000 | 0x10_0000, 3, large: true);
        f.Enter(PagingMode.Pae);
        Assert.False(f.Write(0x20_0000, 0));
        f.AssertPageFault(0x20_0000, P | W | Rsvd);
    }

    [Fact]
    public void CpuLoadReadsThePdptes()
    {
        using var f = new PagingFixture();
        f.MapPae(0xC000_0000, 0x5000, 3);
        f.Enter(PagingMode.Pae);
        Assert.Equal(f.Read64(f.Root + 24), f.Cpu.Pdptes[3]);
        Assert.Equal(0UL, f.Cpu.Pdptes[0]);
    }

    [Fact]
    public void PagingOffIsTheIdentityThroughTheA20Gate()
    {
        using var f = new PagingFixture();
        f.Memory.Write(0x1_2340UL, 1UL);
        f.Memory.Write(0x11_2340UL, 2UL);
        f.Enter(PagingMode.Off);
        Assert.True(f.Read(0x11_2340, out ulong v));
        Assert.Equal(2UL, v);

        // The backend makes every vCPU sync at its next block boundary (the interpreter loop does it).
        f.Space.A20Enabled = false;
        f.Cpu.SyncA20();
        Assert.True(f.Read(0x11_2340, out v));
        Assert.Equal(1UL, v);
        Assert.True(f.Write(0x11_2348, 3));
        Assert.Equal(3UL, f.Read64(0x1_2348));

        f.Space.A20Enabled = true;
        f.Cpu.SyncA20();
        Assert.True(f.Read(0x11_2340, out v));
        Assert.Equal(2UL, v);
    }

    [Fact]
    public void A20MasksPageTableAddressesToo()
    {
        using var f = new PagingFixture();
        // The directory at 1 MiB + 0x1000 would alias 0x1000 with A20 off.
        f.Map32(0x1000, 0x5000, 7);
        f.Memory.Write(0x5000UL, 7UL);
        f.Enter(PagingMode.Bits32);
        f.Space.A20Enabled = false;
        f.Cpu.SyncA20();
        Assert.False(f.Read(0x1000, out _)); // the directory's alias at 0x0000_0000 is empty
        f.AssertPageFault(0x1000, 0);
    }

    [Fact]
    public void A20ChangeRaisesEventAndBumpsGeneration()
    {
        using var f = new PagingFixture();
        int raised = 0;
        f.Space.A20Changed += () => raised++;
        int generation = f.Space.A20Generation;
        f.Space.A20Enabled = true;
        Assert.Equal(0, raised);
        f.Space.A20Enabled = false;
        Assert.Equal(1, raised);
        Assert.Equal(generation + 1, f.Space.A20Generation);
        Assert.Equal(~(1UL << 20), f.Space.A20Mask);
    }
}
