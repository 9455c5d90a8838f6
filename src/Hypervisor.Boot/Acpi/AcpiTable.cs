namespace Hypervisor.Boot.Acpi;

/// <summary>A built table and the guest-physical address it belongs at.</summary>
public sealed record AcpiBlob(string Signature, ulong Address, byte[] Bytes)
{
    public ulong End => Address + (ulong)Bytes.Length;
}

/// <summary>The system description table header every table but the RSDP and FACS starts with (ACPI 6.x, 5.2.6).</summary>
internal static class AcpiTable
{
    public const int HeaderSize = 36;
    public const string OemId = "HVHVHV";
    public const string CreatorId = "HV";

    public static LittleEndianWriter Begin(string signature, byte revision)
    {
        var w = new LittleEndianWriter();
        w.Ascii(signature, 4).U32(0).U8(revision).U8(0)
            .Ascii(OemId, 6).Ascii("HV" + signature, 8).U32(1)
            .Ascii(CreatorId, 4).U32(1);
        return w;
    }

    /// <summary>Patches the length and makes the whole table sum to zero.</summary>
    public static byte[] Finish(LittleEndianWriter w)
    {
        w.PatchU32(4, (uint)w.Length);
        w.PatchU8(9, 0);
        w.PatchU8(9, Checksum.Complement(w.Written));
        return w.ToArray();
    }
}

/// <summary>A Generic Address Structure (ACPI 6.x, 5.2.3.2).</summary>
internal static class Gas
{
    public const byte SystemIo = 1;
    public const byte AccessByte = 1, AccessWord = 2, AccessDWord = 3;

    public static void Write(LittleEndianWriter w, byte space, byte bitWidth, byte accessSize, ulong address) =>
        w.U8(space).U8(bitWidth).U8(0).U8(accessSize).U64(address);

    public static void WriteIo(LittleEndianWriter w, ushort port, byte lengthBytes, byte accessSize) =>
        Write(w, SystemIo, (byte)(lengthBytes * 8), accessSize, port);
}
