using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// IN and OUT (imm8 and DX forms, 1/2/4 bytes; Intel SDM Vol. 2A IN, Vol. 2B OUT) and the I/O protection check
/// shared with INS/OUTS (Vol. 1, 19.5): real mode always may; protected and IA-32e mode may when CPL &lt;= IOPL;
/// otherwise - and always in virtual-8086 mode - every bit of the accessed ports in the TSS I/O permission bit map
/// must be clear. Ports go to the VM's <see cref="Hypervisor.Platform.Io.IIoHandler"/>. The block does not end:
/// an interrupt a device raises is taken at the next block boundary, which is within the architectural latitude
/// for asynchronous events. Op.Aux = access size in bytes, Op.Cond = 1 for the DX forms (else the port is Op.Imm).
/// </summary>
public static unsafe class PortIo
{
    /// <summary>Offset of the 16-bit I/O map base in a 32-bit or 64-bit TSS.</summary>
    private const uint IoMapBaseOffset = 0x66;

    /// <summary>
    /// Whether the current privilege may access <paramref name="size"/> ports from <paramref name="port"/>. False
    /// with the fault raised: #GP(0), or the #PF of reading the bit map.
    /// </summary>
    public static bool Check(CpuContext c, ushort port, int size)
    {
        if (c.Mode == CpuMode.Real) return true;
        if (c.Mode != CpuMode.Virtual8086)
        {
            int iopl = (int)((c.Rflags & FlagBits.IOPL) >> FlagBits.IoplShift);
            if (c.Cpl <= iopl) return true;
        }
        return CheckBitmap(c, port, size);
    }

    private static bool CheckBitmap(CpuContext c, ushort port, int size)
    {
        var tr = c.Architectural.Tr;
        // Only a 32-bit or 64-bit TSS (available 9, busy 11) has a bit map; its fixed part is 104 bytes.
        if (!tr.Present || (tr.Type & 0xD) != 9 || tr.Limit < 0x67) return c.Fault(Vectors.GeneralProtection, 0);
        ulong trBase = c.Mode is CpuMode.Long64 or CpuMode.Compatibility ? tr.Base : (uint)tr.Base;
        if (!c.ReadSystem<ushort>(trBase + IoMapBaseOffset, out ulong mapBase)) return false;
        // The processor reads the two bytes holding the ports' bits; both must lie within the TSS limit.
        ulong offset = mapBase + (uint)(port >> 3);
        if (offset + 1 > tr.Limit) return c.Fault(Vectors.GeneralProtection, 0);
        if (!c.ReadSystem<ushort>(trBase + offset, out ulong bits)) return false;
        uint mask = (1u << size) - 1;
        if (((uint)bits >> (port & 7) & mask) != 0) return c.Fault(Vectors.GeneralProtection, 0);
        return true;
    }

    private static ushort Port(CpuContext c, ref Op op) => op.Cond != 0 ? (ushort)c.Gpr(2) : (ushort)op.Imm;

    /// <summary>IN AL/AX/EAX: AL and AX merge into RAX, EAX zero-extends as every 32-bit register write.</summary>
    public static bool In(CpuContext c, ref Op op)
    {
        ushort port = Port(c, ref op);
        int size = op.Aux;
        if (!Check(c, port, size)) return false;
        uint value = 0;
        c.PortRead(port, new Span<byte>(&value, size));
        switch (size)
        {
            case 1: c.SetReg<byte>(0, value); break;
            case 2: c.SetReg<ushort>(0, value); break;
            default: c.SetReg<uint>(0, value); break;
        }
        return true;
    }

    public static bool Out(CpuContext c, ref Op op)
    {
        ushort port = Port(c, ref op);
        int size = op.Aux;
        if (!Check(c, port, size)) return false;
        uint value = (uint)c.Gpr(0);
        c.PortWrite(port, new ReadOnlySpan<byte>(&value, size));
        return true;
    }
}
