using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// Implicit supervisor-mode accesses (Intel SDM Vol. 3, 4.6.1): descriptor tables, the TSS and the stacks the
/// processor switches to. Addresses are full linear addresses: in IA-32e mode a GDT, IDT or TSS base is 64 bits
/// even while compatibility code runs, so the 4 GiB wrap of legacy modes applies only when long mode is off.
/// </summary>
internal static unsafe class SystemMemory
{
    private static bool LongModeActive(CpuContext c) => (c.Architectural.Efer & (1 << 10)) != 0;

    /// <summary>
    /// Switches the linear mask to the full width of a system access (64 bits with EFER.LMA, 32 otherwise) and
    /// returns the previous mask, which the caller restores.
    /// </summary>
    private static ulong UseFullLinearWidth(CpuContext c)
    {
        ulong saved = c.LinearMask;
        c.LinearMask = LongModeActive(c) ? ulong.MaxValue : 0xFFFF_FFFF;
        return saved;
    }

    public static bool Read(CpuContext c, ulong linear, byte* destination, int length)
    {
        ulong saved = UseFullLinearWidth(c);
        bool ok = c.ReadSystemBytes(linear, destination, length);
        c.LinearMask = saved;
        return ok;
    }

    public static bool Write(CpuContext c, ulong linear, byte* source, int length)
    {
        ulong saved = UseFullLinearWidth(c);
        bool ok = c.WriteSystemBytes(linear, source, length);
        c.LinearMask = saved;
        return ok;
    }

    /// <summary>
    /// A stack access of a far transfer or delivery: with user rights when the stack belongs to CPL 3 (the
    /// current stack of ring-3 code, or a same-privilege frame), as an implicit supervisor access otherwise.
    /// </summary>
    public static bool ReadStack(CpuContext c, ulong linear, byte* destination, int length, bool user)
    {
        if (!user) return Read(c, linear, destination, length);
        ulong saved = UseFullLinearWidth(c);
        bool ok = c.ReadBytes(linear, destination, length);
        c.LinearMask = saved;
        return ok;
    }

    public static bool WriteStack(CpuContext c, ulong linear, byte* source, int length, bool user)
    {
        if (!user) return Write(c, linear, source, length);
        ulong saved = UseFullLinearWidth(c);
        bool ok = c.WriteBytes(linear, source, length);
        c.LinearMask = saved;
        return ok;
    }

    public static bool ReadU64(CpuContext c, ulong linear, out ulong value)
    {
        ulong v = 0;
        bool ok = Read(c, linear, (byte*)&v, 8);
        value = v;
        return ok;
    }

    public static bool ReadU32(CpuContext c, ulong linear, out uint value)
    {
        uint v = 0;
        bool ok = Read(c, linear, (byte*)&v, 4);
        value = v;
        return ok;
    }

    public static bool ReadU16(CpuContext c, ulong linear, out ushort value)
    {
        ushort v = 0;
        bool ok = Read(c, linear, (byte*)&v, 2);
        value = v;
        return ok;
    }

    public static bool WriteU8(CpuContext c, ulong linear, byte value) => Write(c, linear, &value, 1);

    public static bool WriteU16(CpuContext c, ulong linear, ushort value) => Write(c, linear, (byte*)&value, 2);

    public static bool WriteU32(CpuContext c, ulong linear, uint value) => Write(c, linear, (byte*)&value, 4);
}
