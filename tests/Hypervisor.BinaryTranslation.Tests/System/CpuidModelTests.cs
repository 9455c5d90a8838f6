using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Instructions;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Hypervisor.BinaryTranslation.Tests.SystemLevel;

/// <summary>The CPUID model (Intel SDM Vol. 2A CPUID) against what the engine implements.</summary>
public class CpuidModelTests
{
    private static (uint Eax, uint Ebx, uint Ecx, uint Edx) Run(TestMachine m, uint leaf, uint subleaf = 0)
    {
        m.Cpu.Rip = TestMachine.CodeBase;
        m.Load(a =>
        {
            a.mov(eax, leaf);
            a.mov(ecx, subleaf);
            a.cpuid();
        });
        Expect.Halts(m);
        return ((uint)m.Cpu.Gpr(0), (uint)m.Cpu.Gpr(3), (uint)m.Cpu.Gpr(1), (uint)m.Cpu.Gpr(2));
    }

    private static string Text(params uint[] words) =>
        string.Concat(words.Select(w => global::System.Text.Encoding.ASCII.GetString(BitConverter.GetBytes(w))));

    [Fact]
    public void VendorIsGenuineIntelFamily6()
    {
        using var m = new TestMachine();
        var r0 = Run(m, 0);
        Assert.Equal("GenuineIntel", Text(r0.Ebx, r0.Edx, r0.Ecx));
        var r1 = Run(m, 1);
        Assert.Equal(6u, r1.Eax >> 8 & 0xF);
        Assert.Equal(64u, (r1.Ebx >> 8 & 0xFF) * 8);
    }

    [Fact]
    public void ApicIdAndApicFeatureFollowTheVcpu()
    {
        using var m = new TestMachine();
        m.Cpu.Cpuid = new CpuidModel { ApicId = 3, CpuCount = 4 };
        var without = Run(m, 1);
        Assert.Equal(3u, without.Ebx >> 24);
        Assert.Equal(0u, without.Edx & CpuidModel.Apic);
        Assert.Equal(0u, without.Ecx & CpuidModel.TscDeadline);
        m.Cpu.LocalApic = new FakeLocalApic();
        var with = Run(m, 1);
        Assert.NotEqual(0u, with.Edx & CpuidModel.Apic);
        Assert.NotEqual(0u, with.Ecx & CpuidModel.TscDeadline);
        Assert.Equal(3u, Run(m, 0xB, 0).Edx);
        // No hyper-threading: each vCPU is a package of its own.
        Assert.Equal(0u, with.Edx & 1u << 28);
    }

    [Fact]
    public void FeatureFlagsMatchTheLinuxX8664Baseline()
    {
        using var m = new TestMachine();
        var r1 = Run(m, 1);
        // Linux x86-64 REQUIRED_MASK: FPU, PSE, TSC, MSR, PAE, CX8, PGE, CMOV, FXSR, MMX, SSE, SSE2 (and LM).
        uint required = CpuidModel.Fpu | CpuidModel.Pse | CpuidModel.Tsc | CpuidModel.Msr | CpuidModel.Pae
                        | CpuidModel.Cx8 | CpuidModel.Pge | CpuidModel.Cmov | CpuidModel.Fxsr | CpuidModel.Mmx
                        | CpuidModel.Sse | CpuidModel.Sse2;
        Assert.Equal(required, r1.Edx & required);
        // SSE3 and later, VME, HTT are not implemented; DE is (debug extensions: CR4.DE, I/O breakpoints).
        Assert.Equal(0u, r1.Ecx & 1);
        Assert.Equal(0u, r1.Edx & (1u << 1 | 1u << 28));
        Assert.NotEqual(0u, r1.Edx & CpuidModel.De);
        Assert.NotEqual(0u, r1.Ecx & CpuidModel.Hypervisor);
        var e1 = Run(m, 0x8000_0001);
        Assert.Equal(CpuidModel.LongMode | CpuidModel.Nx | CpuidModel.Syscall | CpuidModel.Rdtscp | CpuidModel.Page1Gb,
            e1.Edx);
        Assert.Equal(48u << 8 | 40u, Run(m, 0x8000_0008).Eax);
        Assert.NotEqual(0u, Run(m, 0x8000_0007).Edx & CpuidModel.InvariantTsc);
    }

    /// <summary>Leaf 15H: TSC = crystal * EBX / EAX; the crystal is the APIC bus clock.</summary>
    [Theory]
    [InlineData(2_000_000_000UL)]
    [InlineData(2_400_000_000UL)]
    [InlineData(3_193_000_000UL)]
    public void TscLeavesGiveTheTscFrequency(ulong tsc)
    {
        using var m = new TestMachine();
        m.Cpu.TscFrequency = tsc;
        var r = Run(m, 0x15);
        Assert.Equal(1_000_000_000u, r.Ecx);
        Assert.NotEqual(0u, r.Eax);
        Assert.Equal(tsc, (ulong)r.Ecx * r.Ebx / r.Eax);
        // Linux computes crystal_khz * EBX in 32 bits.
        Assert.True((ulong)(r.Ecx / 1000) * r.Ebx <= uint.MaxValue);
        Assert.Equal((uint)(tsc / 1_000_000), Run(m, 0x16).Eax);
        var hv = Run(m, 0x4000_0010);
        Assert.Equal((uint)(tsc / 1000), hv.Eax);
        Assert.Equal(1_000_000u, hv.Ebx);
    }

    [Fact]
    public void HypervisorLeafNamesHvAndItsRange()
    {
        using var m = new TestMachine();
        var r = Run(m, 0x4000_0000);
        Assert.Equal(0x4000_0010u, r.Eax);
        Assert.Equal("hv-bt-engine", Text(r.Ebx, r.Ecx, r.Edx));
    }

    /// <summary>Intel: a leaf above the highest one returns the highest basic leaf's data.</summary>
    [Fact]
    public void OutOfRangeLeavesReturnTheHighestBasicLeaf()
    {
        using var m = new TestMachine();
        var max = Run(m, CpuidModel.MaxBasicLeaf);
        Assert.Equal(max, Run(m, 0x8000_0009));
        Assert.Equal(max, Run(m, 0x20));
    }

    [Fact]
    public void ArchCapabilitiesAreAdvertisedAndReadable()
    {
        using var m = new TestMachine();
        Assert.NotEqual(0u, Run(m, 7).Edx & CpuidModel.ArchCapabilitiesBit);
        m.Cpu.Rip = TestMachine.CodeBase;
        m.Load(a =>
        {
            a.mov(ecx, MsrIndex.ArchCapabilities);
            a.rdmsr();
        });
        Expect.Halts(m);
        Assert.Equal(1UL, m.Cpu.Gpr(0) & 1); // RDCL_NO
    }

    /// <summary>Every instruction a feature flag announces must bind to a handler (an unbound one raises #UD).</summary>
    [Theory]
    [InlineData("CX8", new byte[] { 0x0F, 0xC7, 0x0E })] // CMPXCHG8B [rsi]
    [InlineData("CX16", new byte[] { 0x48, 0x0F, 0xC7, 0x0E })] // CMPXCHG16B [rsi]
    [InlineData("CMOV", new byte[] { 0x0F, 0x44, 0xC1 })] // CMOVE eax, ecx
    [InlineData("CLFSH", new byte[] { 0x0F, 0xAE, 0x3E })] // CLFLUSH [rsi]
    [InlineData("FXSR", new byte[] { 0x0F, 0xAE, 0x06 })] // FXSAVE [rsi]
    [InlineData("SSE", new byte[] { 0x0F, 0x58, 0xC1 })] // ADDPS
    [InlineData("SSE2", new byte[] { 0x66, 0x0F, 0x58, 0xC1 })] // ADDPD
    [InlineData("RDTSCP", new byte[] { 0x0F, 0x01, 0xF9 })]
    [InlineData("LAHF-LM", new byte[] { 0x9F })]
    [InlineData("PREFETCHW", new byte[] { 0x0F, 0x0D, 0x0E })]
    [InlineData("MSR", new byte[] { 0x0F, 0x32 })]
    [InlineData("TSC", new byte[] { 0x0F, 0x31 })]
    [InlineData("FPU", new byte[] { 0xD9, 0xE8 })] // FLD1
    [InlineData("MMX", new byte[] { 0x0F, 0xFC, 0xC1 })] // PADDB mm0, mm1
    [InlineData("SYSCALL", new byte[] { 0x0F, 0x05 })]
    [InlineData("SEP", new byte[] { 0x0F, 0x34 })] // SYSENTER
    [InlineData("APIC/MSR", new byte[] { 0x0F, 0x30 })] // WRMSR
    public void AdvertisedInstructionsAreImplemented(string feature, byte[] code)
    {
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(code));
        decoder.Decode(out var ins);
        var op = default(Op);
        var ctx = new BindContext(64, 64, CpuMode.Long64);
        Assert.True(OpBinder.Bind(ins, ref op, ctx), feature);
    }

    /// <summary>Without BMI1/LZCNT the F3 0F BC/BD encodings are BSF/BSR (LZCNT of 0x10 would be 27, BSR gives 4).</summary>
    [Fact]
    public void TzcntAndLzcntEncodingsRunAsBsfAndBsrWithoutBmi1()
    {
        using var m = new TestMachine();
        Assert.Equal(0u, Run(m, 7).Ebx & 1u << 3);
        Assert.Equal(0u, Run(m, 0x8000_0001).Ecx & 1u << 5);
        m.Cpu.Rip = TestMachine.CodeBase;
        m.Load(a =>
        {
            a.mov(ecx, 0x10);
            a.lzcnt(eax, ecx);
            a.mov(ecx, 0x30);
            a.tzcnt(ebx, ecx);
        });
        Expect.Halts(m);
        Assert.Equal(4UL, m.Cpu.Gpr(0));
        Assert.Equal(4UL, m.Cpu.Gpr(3));
    }
}
