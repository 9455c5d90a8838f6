using Hypervisor.BinaryTranslation.State;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>
/// TEMPORARY until the paging MMU lands: without it there is no paging (CR0.PG = 0 translation only), hence no
/// PDPTE registers to load and no global translations to keep. The paging helper's CpuContext instance members
/// take precedence over these extensions; delete this file when they are on main.
/// </summary>
internal static class PrivilegedPagingShim
{
    public static void FlushTlbAll(this CpuContext c) => c.FlushTlb();

    public static void InvalidatePage(this CpuContext c, ulong linear) => c.FlushTlb();

    public static bool LoadPdptes(this CpuContext c) => true;

    public static bool ReadSystem<T>(this CpuContext c, ulong linear, out ulong value) where T : unmanaged =>
        c.Read<T>(linear, out value);
}
