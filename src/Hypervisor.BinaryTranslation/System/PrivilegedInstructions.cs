using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// MOV to/from CR0, CR2, CR3, CR4, CR8, CLTS, LMSW, SMSW, INVLPG, WBINVD, INVD and RDPMC (Intel SDM Vol. 2).
/// All but SMSW need CPL 0 (#GP(0), which virtual-8086 mode always gets at CPL 3). An instruction that changes the
/// mode key or translations returns false, so the next block is looked up under the new state.
/// Op.Cond = control register number, Op.Aux = 1 for a 64-bit operand; the GPR is R0 (from CR) or R1 (to CR).
/// </summary>
public static class PrivilegedInstructions
{
    private static bool NotCpl0(CpuContext c) => c.Cpl != 0;

    private static bool Gp(CpuContext c) => c.Fault(Vectors.GeneralProtection, 0);

    public static bool MovFromCr(CpuContext c, ref Op op)
    {
        if (NotCpl0(c)) return Gp(c);
        var a = c.Architectural;
        ulong value = op.Cond switch
        {
            0 => a.Cr0, 2 => a.Cr2, 3 => a.Cr3, 4 => a.Cr4, _ => ControlRegisters.ReadCr8(c),
        };
        if (op.Aux != 0) c.SetReg<ulong>(op.R0, value);
        else c.SetReg<uint>(op.R0, value);
        return true;
    }

    public static bool MovToCr(CpuContext c, ref Op op)
    {
        if (NotCpl0(c)) return Gp(c);
        ulong value = op.Aux != 0 ? c.GetReg<ulong>(op.R1) : c.GetReg<uint>(op.R1);
        switch (op.Cond)
        {
            case 0:
                _ = ControlRegisters.WriteCr0(c, value);
                break;
            case 2:
                c.Architectural.Cr2 = value;
                return true;
            case 3:
                _ = ControlRegisters.WriteCr3(c, value);
                break;
            case 4:
                _ = ControlRegisters.WriteCr4(c, value);
                break;
            default:
                // A lower TPR can unmask a pending interrupt: the backend looks between blocks.
                _ = ControlRegisters.WriteCr8(c, value);
                break;
        }
        // Either the state changed or a fault is pending: the block ends.
        return false;
    }

    /// <summary>CLTS: clears CR0.TS, which decides whether FPU/SSE instructions raise #NM (part of the mode key).</summary>
    public static bool Clts(CpuContext c, ref Op op)
    {
        if (NotCpl0(c)) return Gp(c);
        _ = ControlRegisters.WriteCr0(c, c.Architectural.Cr0 & ~ControlRegisters.Cr0Ts);
        return false;
    }

    /// <summary>LMSW: loads CR0 bits 3:0 (PE, MP, EM, TS); it can set PE but never clear it.</summary>
    public static bool Lmsw<TSrc>(CpuContext c, ref Op op) where TSrc : struct, ILmswSource
    {
        if (NotCpl0(c)) return Gp(c);
        if (!TSrc.Get(c, ref op, out ulong source)) return false;
        ulong old = c.Architectural.Cr0;
        ulong value = (old & ~0xFUL) | (source & 0xF) | (old & ControlRegisters.Cr0Pe);
        _ = ControlRegisters.WriteCr0(c, value);
        return false;
    }

    /// <summary>SMSW m16: the low 16 bits of CR0 (not privileged: CPUID does not advertise UMIP).</summary>
    public static bool SmswMem(CpuContext c, ref Op op) =>
        c.Write<ushort>(Addressing.Linear(c, ref op), (ushort)c.Architectural.Cr0);

    /// <summary>SMSW r16/r32/r64 (Op.Aux = operand bytes): a 16-bit register keeps its upper bits, wider ones get CR0.</summary>
    public static bool SmswReg(CpuContext c, ref Op op)
    {
        ulong cr0 = c.Architectural.Cr0;
        switch (op.Aux)
        {
            case 2: c.SetReg<ushort>(op.R0, cr0); break;
            case 4: c.SetReg<uint>(op.R0, cr0); break;
            default: c.SetReg<ulong>(op.R0, cr0); break;
        }
        return true;
    }

    /// <summary>
    /// INVLPG m: drops the translations of the page holding the address, global ones included (Vol. 3, 4.10.4.1);
    /// a non-canonical address in 64-bit mode makes it a no-op. Ends the block: the page may hold the code.
    /// </summary>
    public static bool Invlpg(CpuContext c, ref Op op)
    {
        if (NotCpl0(c)) return Gp(c);
        ulong linear = Addressing.Linear(c, ref op);
        if (c.Mode == CpuMode.Long64 && (ulong)((long)(linear << 16) >> 16) != linear) return true;
        c.InvalidatePage(linear);
        return false;
    }

    /// <summary>WBINVD/INVD: guest memory is coherent host memory, there is no cache to write back or drop.</summary>
    public static bool CacheInvalidate(CpuContext c, ref Op op) => !NotCpl0(c) || Gp(c);

    /// <summary>
    /// RDPMC: #GP(0) at CPL &gt; 0 without CR4.PCE, and for a counter that does not exist - which is every counter, as
    /// CPUID advertises no performance monitoring (leaf 0AH is zero).
    /// </summary>
    public static bool Rdpmc(CpuContext c, ref Op op) => Gp(c);
}

/// <summary>Where LMSW's 16-bit source comes from.</summary>
public interface ILmswSource
{
    static abstract bool Get(CpuContext c, ref Op op, out ulong value);
}

public struct LmswFromReg : ILmswSource
{
    public static bool Get(CpuContext c, ref Op op, out ulong value)
    {
        value = c.GetReg<ushort>(op.R0);
        return true;
    }
}

public struct LmswFromMem : ILmswSource
{
    public static bool Get(CpuContext c, ref Op op, out ulong value) =>
        c.Read<ushort>(Addressing.Linear(c, ref op), out value);
}
