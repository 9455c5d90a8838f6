using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>How a descriptor lookup ended.</summary>
internal enum LookupResult : byte
{
    Ok,

    /// <summary>The selector's index lies beyond the table limit (or TI = 1 with no usable LDT): the caller raises #GP/#TS(selector).</summary>
    OutsideLimit,

    /// <summary>Reading the table faulted (#PF); the exception is already pending.</summary>
    MemoryFault,
}

/// <summary>GDT and LDT lookups by selector (Intel SDM Vol. 3, 3.4.2 and 3.5.1).</summary>
internal static unsafe class DescriptorTable
{
    public const ushort TableIndicator = 4;

    public static bool IsNull(ushort selector) => (selector & 0xFFFC) == 0;

    /// <summary>Reads the 8-byte descriptor a selector names (GDT when TI = 0, else LDT).</summary>
    public static LookupResult Read(CpuContext c, ushort selector, out Descriptor descriptor, out ulong address) =>
        ReadSized(c, selector, 8, out descriptor, out address);

    /// <summary>
    /// Reads a descriptor that is 16 bytes in IA-32e mode (system segments, call gates; Intel SDM Vol. 3, 5.8.3.1)
    /// and 8 bytes otherwise.
    /// </summary>
    public static LookupResult ReadSystem(CpuContext c, ushort selector, out Descriptor descriptor, out ulong address) =>
        ReadSized(c, selector, (c.Architectural.Efer & (1 << 10)) != 0 ? 16 : 8, out descriptor, out address);

    private static LookupResult ReadSized(CpuContext c, ushort selector, int size, out Descriptor descriptor, out ulong address)
    {
        descriptor = default;
        ulong tableBase;
        uint limit;
        if ((selector & TableIndicator) != 0)
        {
            var ldtr = c.Architectural.Ldtr;
            if (ldtr.Unusable || !ldtr.Present)
            {
                address = 0;
                return LookupResult.OutsideLimit;
            }
            tableBase = ldtr.Base;
            limit = ldtr.Limit;
        }
        else
        {
            tableBase = c.Architectural.Gdtr.Base;
            limit = c.Architectural.Gdtr.Limit;
        }
        ulong offset = (ulong)(selector & 0xFFF8);
        address = tableBase + offset;
        if (offset + (ulong)size - 1 > limit) return LookupResult.OutsideLimit;
        ulong low = 0, high = 0;
        if (!SystemMemory.ReadU64(c, address, out low)) return LookupResult.MemoryFault;
        if (size == 16 && !SystemMemory.ReadU64(c, address + 8, out high)) return LookupResult.MemoryFault;
        descriptor = new Descriptor(low, high);
        return LookupResult.Ok;
    }

    /// <summary>Sets the accessed bit of a code/data descriptor in memory (a locked update on hardware).</summary>
    public static bool SetAccessed(CpuContext c, ulong address, in Descriptor descriptor)
    {
        if ((descriptor.Type & 1) != 0) return true;
        return SystemMemory.WriteU8(c, address + 5, (byte)((descriptor.Low >> 40) | 1));
    }

    /// <summary>Sets or clears the busy bit (type bit 1) of a TSS descriptor.</summary>
    public static bool SetBusy(CpuContext c, ulong address, in Descriptor descriptor, bool busy)
    {
        byte access = (byte)(descriptor.Low >> 40);
        access = busy ? (byte)(access | 2) : (byte)(access & ~2);
        return SystemMemory.WriteU8(c, address + 5, access);
    }

    /// <summary>Error code of a selector fault: the selector without RPL, plus EXT (Intel SDM Vol. 3, 6.13).</summary>
    public static uint ErrorCode(ushort selector, uint ext = 0) => (uint)(selector & 0xFFFC) | ext;
}
