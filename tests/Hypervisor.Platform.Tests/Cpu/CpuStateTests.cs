using Hypervisor.Platform.Cpu;

namespace Hypervisor.Platform.Tests.Cpu;

public class CpuStateTests
{
    [Fact]
    public void ResetStateMatchesTheSdm()
    {
        // Intel SDM Vol. 3A, Table 10-1: IP=FFF0, CS selector F000 with base FFFF0000, CR0=60000010.
        var s = CpuState.CreateReset();
        Assert.Equal(0xFFF0UL, s.Rip);
        Assert.Equal(0xF000, s.Cs.Selector);
        Assert.Equal(0xFFFF_0000UL, s.Cs.Base);
        Assert.Equal(0x6000_0010UL, s.Cr0);
        Assert.Equal(0x2UL, s.Rflags);
        Assert.Equal(0x037F, BitConverter.ToUInt16(s.FxSave, 0));
        Assert.Equal(0x1F80u, BitConverter.ToUInt32(s.FxSave, 24));
    }

    [Fact]
    public void ResetAndInitLeaveTheProcessorSignatureInEdx()
    {
        Assert.Equal(CpuState.DefaultSignature, CpuState.CreateReset().Rdx);
        Assert.Equal(0x6FBUL, CpuState.CreateReset(0x6FB).Rdx);
        Assert.Equal(0x6FBUL, CpuState.CreateInit(CpuState.CreateReset(), 0x6FB).Rdx);
    }

    [Fact]
    public void InitIsTheResetStateButForWhatTable101SaysItKeeps()
    {
        // A CPU deep in 64-bit mode with caching disabled, FPU/SSE state, MSRs and a moved APIC base.
        var before = CpuState.CreateReset(0x6FB);
        before.Rax = 1; before.Rdx = 2; before.Rsp = 0x8000; before.Rip = 0x1234; before.Rflags = 0x246;
        before.Cr0 = 0xC000_0033; // PG CD PE MP NE ET
        before.Cr2 = 0x1000; before.Cr3 = 0x2000; before.Cr4 = 0x20; before.Efer = 0x500;
        before.Dr0 = 0x4000; before.Dr7 = 0x401;
        before.Cs = SegmentRegister.Flat(0x08, true, longMode: true);
        before.Gdtr = new DescriptorTableRegister { Base = 0x5000, Limit = 0x27 };
        before.Msrs[0x277] = 0x0007_0406_0007_0406; // IA32_PAT
        before.Msrs[0x2FF] = 0xC06; // IA32_MTRR_DEF_TYPE
        before.FxSave[0] = 0x7B; // FCW with ZM unmasked
        before.FxSave[160] = 0xAA; // XMM0
        before.ApicBase = 0xFED0_0900;

        var reset = CpuState.CreateReset(0x6FB);
        var init = CpuState.CreateInit(before, 0x6FB);

        Assert.Equal(reset.Gprs, init.Gprs); // EDX the signature, the rest 0
        Assert.Equal(reset.Rip, init.Rip);
        Assert.Equal(reset.Rflags, init.Rflags);
        Assert.Equal(reset.Cs, init.Cs);
        Assert.Equal(reset.Gdtr, init.Gdtr);
        Assert.Equal(0x4000_0010UL, init.Cr0); // CD kept, ET set, PG/PE/MP/NE cleared
        Assert.Equal(0UL, init.Cr2 | init.Cr3 | init.Cr4 | init.Efer | init.Dr0);
        Assert.Equal(0x400UL, init.Dr7);
        Assert.Equal(before.Msrs, init.Msrs);
        Assert.Equal(before.FxSave, init.FxSave);
        Assert.Equal(before.ApicBase, init.ApicBase);
        Assert.Equal(0x6000_0010UL, CpuState.CreateInit(reset, 0x6FB).Cr0); // from power-on: CD and NW stay set
    }

    [Fact]
    public void CloneSharesNoMutableState()
    {
        var s = CpuState.CreateReset();
        s.Rax = 1;
        s.Msrs[0xC000_0080] = 0x500;
        var c = s.Clone();
        c.Rax = 2;
        c.Msrs[0xC000_0080] = 0;
        c.FxSave[0] = 0;
        c.LapicRegisters[0x20] = 5;
        c.Cs.Selector = 8;
        Assert.Equal(1UL, s.Rax);
        Assert.Equal(0x500UL, s.Msrs[0xC000_0080]);
        Assert.Equal(0x7F, s.FxSave[0]);
        Assert.Equal(0, s.LapicRegisters[0x20]);
        Assert.Equal(0xF000, s.Cs.Selector);
    }

    [Fact]
    public void DescriptorUnpackingFollowsTheGdtFormat()
    {
        // 0x00AF9B000000FFFF: 64-bit code, DPL 0, present, G=1, limit 0xFFFFF (Linux __KERNEL_CS).
        var seg = SegmentRegister.FromDescriptor(0x10, 0x00AF_9B00_0000_FFFFUL);
        Assert.Equal(0UL, seg.Base);
        Assert.Equal(0xFFFF_FFFFu, seg.Limit);
        Assert.Equal(0xB, seg.Type);
        Assert.True(seg.CodeOrData && seg.Present && seg.Long && seg.Granularity);
        Assert.False(seg.DefaultBig);
        var tss = SegmentRegister.FromDescriptor(0x28, 0x0000_8B12_3456_0067UL);
        Assert.Equal(0x123456UL, tss.Base);
        Assert.Equal(0x67u, tss.Limit);
        Assert.False(tss.CodeOrData);
    }
}
