namespace Hypervisor.Boot.Acpi;

/// <summary>RSDP, RSDT, XSDT and FACS (ACPI 6.0, 5.2.5, 5.2.7, 5.2.8, 5.2.10).</summary>
internal static class RootTables
{
    public const int RsdpLength = 36;
    public const int FacsLength = 64;

    /// <summary>
    /// RSDP revision 2: the first checksum covers the ACPI 1.0 part (20 bytes), the extended checksum all 36.
    /// </summary>
    public static byte[] Rsdp(ulong rsdt, ulong xsdt)
    {
        var w = new LittleEndianWriter();
        w.Ascii("RSD PTR ", 8).U8(0).Ascii(AcpiTable.OemId, 6).U8(2).U32((uint)rsdt)
            .U32(RsdpLength).U64(xsdt).U8(0).Zeros(3);
        w.PatchU8(8, Checksum.Complement(w.Written[..20]));
        w.PatchU8(32, Checksum.Complement(w.Written));
        return w.ToArray();
    }

    public static byte[] Rsdt(IEnumerable<ulong> tables)
    {
        var w = AcpiTable.Begin("RSDT", 1);
        foreach (ulong t in tables) w.U32((uint)t);
        return AcpiTable.Finish(w);
    }

    public static byte[] Xsdt(IEnumerable<ulong> tables)
    {
        var w = AcpiTable.Begin("XSDT", 1);
        foreach (ulong t in tables) w.U64(t);
        return AcpiTable.Finish(w);
    }

    /// <summary>
    /// FACS version 2, no checksum (it is read-write for OSPM and firmware). hv has no S4BIOS and no waking
    /// vector: the OS only needs the global lock and the hardware signature to exist.
    /// </summary>
    public static byte[] Facs()
    {
        var w = new LittleEndianWriter();
        w.Ascii("FACS", 4).U32(FacsLength).U32(0).U32(0).U32(0).U32(0).U64(0).U8(2).Zeros(3).U32(0).Zeros(24);
        return w.ToArray();
    }
}
