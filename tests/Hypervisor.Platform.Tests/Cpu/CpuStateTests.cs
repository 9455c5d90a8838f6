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
