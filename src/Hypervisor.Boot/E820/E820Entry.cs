namespace Hypervisor.Boot.E820;

/// <summary>Address range types as INT 15h, E820h reports them (ACPI 6.x, 15.1 Table 15.1).</summary>
public enum E820Type : uint
{
    Ram = 1,
    Reserved = 2,

    /// <summary>ACPI tables; the OS may reuse the range once it has read them.</summary>
    Acpi = 3,
    Nvs = 4,
    Unusable = 5,
}

/// <summary>One range of the map: [Address, Address + Size).</summary>
public readonly record struct E820Entry(ulong Address, ulong Size, E820Type Type)
{
    public ulong End => Address + Size;

    public override string ToString() => $"[0x{Address:x}-0x{End - 1:x}] {Type}";
}
