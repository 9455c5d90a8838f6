using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>Stack pointers in the current TSS (Intel SDM Vol. 3, 8.2.1, 8.7 and 8.7.1 for the 64-bit TSS).</summary>
internal static class TaskStateSegment
{
    /// <summary>SS:ESP for privilege level <paramref name="cpl"/> from a 32-bit TSS, or SS:SP from a 16-bit one.</summary>
    public static bool ReadLegacyStack(CpuContext c, int cpl, uint ext, out ushort ss, out ulong sp)
    {
        ss = 0;
        sp = 0;
        var tr = c.Architectural.Tr;
        uint trError = DescriptorTable.ErrorCode(tr.Selector, ext);
        bool tss32 = (tr.Type & 8) != 0;
        ulong offset = tss32 ? 4 + (ulong)cpl * 8 : 2 + (ulong)cpl * 4;
        ulong last = offset + (tss32 ? 5UL : 3UL);
        if (tr.Unusable || last > tr.Limit) return c.Fault(Vectors.InvalidTss, trError);
        if (tss32)
        {
            if (!SystemMemory.ReadU32(c, tr.Base + offset, out uint esp)) return false;
            if (!SystemMemory.ReadU16(c, tr.Base + offset + 4, out ss)) return false;
            sp = esp;
        }
        else
        {
            if (!SystemMemory.ReadU16(c, tr.Base + offset, out ushort sp16)) return false;
            if (!SystemMemory.ReadU16(c, tr.Base + offset + 2, out ss)) return false;
            sp = sp16;
        }
        return true;
    }

    /// <summary>RSPn (ist = 0) or ISTn (ist 1..7) from the 64-bit TSS.</summary>
    public static bool ReadLongStack(CpuContext c, int cpl, int ist, uint ext, out ulong rsp)
    {
        rsp = 0;
        var tr = c.Architectural.Tr;
        ulong offset = ist == 0 ? 4 + (ulong)cpl * 8 : 0x24 + (ulong)(ist - 1) * 8;
        if (tr.Unusable || offset + 7 > tr.Limit)
            return c.Fault(Vectors.InvalidTss, DescriptorTable.ErrorCode(tr.Selector, ext));
        return SystemMemory.ReadU64(c, tr.Base + offset, out rsp);
    }
}
