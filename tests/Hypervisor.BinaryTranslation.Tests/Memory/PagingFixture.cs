using Hypervisor.BinaryTranslation.Memory;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Memory;

namespace Hypervisor.BinaryTranslation.Tests.Memory;

public enum PagingMode { Off, Bits32, Pae, FourLevel }

/// <summary>
/// A CPU over 16 MiB of RAM with hand-built page tables. Tables are allocated from 1 MiB upwards; data pages are
/// chosen by each test below that.
/// </summary>
public sealed unsafe class PagingFixture : IDisposable
{
    public const ulong RamSize = 16 << 20;
    private ulong _nextTable = 0x10_0000;

    public PagingFixture()
    {
        Memory = new GuestMemory();
        Memory.AddRam(0, RamSize, "ram");
        Space = new AddressSpace(Memory);
        Cpu = new CpuContext(Space);
    }

    public GuestMemory Memory { get; }
    public AddressSpace Space { get; }
    public CpuContext Cpu { get; }

    /// <summary>CR3 of the tables built so far (the first table allocated).</summary>
    public ulong Root { get; private set; }

    public const ulong Cr0Wp = 1UL << 16;

    public void Enter(PagingMode mode, int cpl = 0, bool wp = false, bool nxe = false, bool pge = false, bool pse = false)
    {
        var s = TestMachine.InitialState(mode == PagingMode.FourLevel ? 64 : 32, cpl);
        s.Cr0 = mode == PagingMode.Off ? 0x11UL : 0x8000_0011UL;
        if (wp) s.Cr0 |= Cr0Wp;
        s.Cr4 = 0x600 | (pge ? 0x80UL : 0) | (pse ? 0x10UL : 0) | (mode is PagingMode.Pae or PagingMode.FourLevel ? 0x20UL : 0);
        s.Efer = (mode == PagingMode.FourLevel ? 0x500UL : 0) | (nxe ? 0x800UL : 0);
        s.Cr3 = Root;
        Cpu.Load(s);
    }

    /// <summary>Changes CPL (as a far transfer would: CS and SS of the new ring) keeping the control registers.</summary>
    public void SetCpl(int cpl)
    {
        var s = Cpu.Save();
        var fresh = TestMachine.InitialState(s.Cs.Long ? 64 : 32, cpl);
        s.Cs = fresh.Cs;
        s.Ss = fresh.Ss;
        s.Ds = fresh.Ds;
        s.Es = fresh.Es;
        Cpu.Load(s);
    }

    public ulong NewTable()
    {
        ulong t = _nextTable;
        _nextTable += 0x1000;
        Memory.GetWritableSpan(t, 0x1000).Clear();
        if (Root == 0) Root = t;
        return t;
    }

    public ulong Read64(ulong physical) => Memory.Read<ulong>(physical);
    public uint Read32(ulong physical) => Memory.Read<uint>(physical);

    /// <summary>
    /// 4-level: maps <paramref name="linear"/> with a leaf at <paramref name="leafLevel"/> (1 = 4 KiB PTE, 2 = 2 MiB
    /// PDE, 3 = 1 GiB PDPTE). Upper entries get <paramref name="upper"/>; returns the leaf entry's physical address.
    /// </summary>
    public ulong Map4(ulong linear, ulong physical, ulong leaf, ulong upper = 7, int leafLevel = 1)
    {
        if (Root == 0) NewTable();
        ulong table = Root;
        for (int level = 4; ; level--)
        {
            ulong entryAddress = table + ((linear >> (12 + 9 * (level - 1))) & 0x1FF) * 8;
            if (level == leafLevel)
            {
                Memory.Write(entryAddress, physical | leaf | (leafLevel > 1 ? 0x80UL : 0));
                return entryAddress;
            }
            ulong entry = Read64(entryAddress);
            if ((entry & 1) == 0)
            {
                entry = NewTable() | upper;
                Memory.Write(entryAddress, entry);
            }
            table = entry & 0xF_FFFF_F000;
        }
    }

    /// <summary>The entry at <paramref name="level"/> on the 4-level path of <paramref name="linear"/>.</summary>
    public ulong Entry4Address(ulong linear, int level)
    {
        ulong table = Root;
        for (int l = 4; ; l--)
        {
            ulong address = table + ((linear >> (12 + 9 * (l - 1))) & 0x1FF) * 8;
            if (l == level) return address;
            table = Read64(address) & 0xF_FFFF_F000;
        }
    }

    /// <summary>32-bit paging: maps a 4 KiB page; returns (PDE address, PTE address).</summary>
    public (ulong Pde, ulong Pte) Map32(ulong linear, ulong physical, uint pte, uint pde = 7)
    {
        if (Root == 0) NewTable();
        ulong pdeAddress = Root + ((linear >> 22) & 0x3FF) * 4;
        uint entry = Read32(pdeAddress);
        if ((entry & 1) == 0)
        {
            entry = (uint)NewTable() | pde;
            Memory.Write(pdeAddress, entry);
        }
        ulong pteAddress = (entry & 0xFFFF_F000) + ((linear >> 12) & 0x3FF) * 4;
        Memory.Write(pteAddress, (uint)physical | pte);
        return (pdeAddress, pteAddress);
    }

    /// <summary>PAE: a PDPT of four entries (32-byte aligned) in the root page, then PD and PT pages.</summary>
    public ulong MapPae(ulong linear, ulong physical, ulong leaf, ulong pde = 7, bool large = false)
    {
        if (Root == 0) NewTable();
        ulong pdpteAddress = Root + ((linear >> 30) & 3) * 8;
        ulong pdpte = Read64(pdpteAddress);
        if ((pdpte & 1) == 0)
        {
            pdpte = NewTable() | 1;
            Memory.Write(pdpteAddress, pdpte);
        }
        ulong pdeAddress = (pdpte & 0xF_FFFF_F000) + ((linear >> 21) & 0x1FF) * 8;
        if (large)
        {
            Memory.Write(pdeAddress, physical | leaf | 0x80);
            return pdeAddress;
        }
        ulong entry = Read64(pdeAddress);
        if ((entry & 1) == 0)
        {
            entry = NewTable() | pde;
            Memory.Write(pdeAddress, entry);
        }
        ulong pteAddress = (entry & 0xF_FFFF_F000) + ((linear >> 12) & 0x1FF) * 8;
        Memory.Write(pteAddress, physical | leaf);
        return pteAddress;
    }

    public bool Read(ulong linear, out ulong value) => Cpu.Read<ulong>(linear, out value);
    public bool Write(ulong linear, ulong value) => Cpu.Write<ulong>(linear, value);

    public bool Fetch(ulong linear) => Cpu.TranslateCode(linear, out _, out _);

    /// <summary>Asserts the last access raised #PF at <paramref name="linear"/> with <paramref name="errorCode"/>.</summary>
    public void AssertPageFault(ulong linear, uint errorCode)
    {
        Assert.Equal(ExitKind.Exception, Cpu.Exit);
        Assert.Equal(Vectors.PageFault, Cpu.Exception.Vector);
        Assert.True(Cpu.Exception.HasErrorCode);
        Assert.Equal(errorCode, Cpu.Exception.ErrorCode);
        Assert.Equal(linear, Cpu.Exception.FaultAddress);
        Cpu.Exit = ExitKind.None;
    }

    public void Dispose() => Memory.Dispose();
}
