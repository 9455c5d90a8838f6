using System.Globalization;

namespace Hypervisor.Network;

/// <summary>An Ethernet MAC address (IEEE 802): six bytes, bit 0 of the first one set for group addresses.</summary>
public readonly record struct MacAddress(ulong Value)
{
    /// <summary>QEMU's locally administered prefix 52:54:00, which guests and tools recognise as a VM NIC.</summary>
    private const ulong QemuPrefix = 0x52_54_00UL << 24;

    public static MacAddress Broadcast { get; } = new(0xFFFF_FFFF_FFFFUL);

    public bool IsGroup => (Value >> 40 & 1) != 0;

    /// <summary>Reads six bytes in wire order.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> bytes)
    {
        ulong v = 0;
        for (int i = 0; i < 6; i++) v = v << 8 | bytes[i];
        return new MacAddress(v);
    }

    public void Write(Span<byte> bytes)
    {
        for (int i = 0; i < 6; i++) bytes[i] = (byte)(Value >> (40 - 8 * i));
    }

    /// <summary>Parses "52:54:00:12:34:56" (or with dashes); false for anything else.</summary>
    public static bool TryParse(string text, out MacAddress mac)
    {
        mac = default;
        var parts = text.Split(':', '-');
        if (parts.Length != 6) return false;
        ulong v = 0;
        foreach (string part in parts)
        {
            if (part.Length != 2 || !byte.TryParse(part, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b))
                return false;
            v = v << 8 | b;
        }
        mac = new MacAddress(v);
        return true;
    }

    /// <summary>A random unicast address under 52:54:00, so VMs on one link differ without configuration.</summary>
    public static MacAddress Generate()
    {
        // Not a secret, just distinct per VM; Random.Shared avoids OpenSSL, which a host may lack.
        Span<byte> random = stackalloc byte[3];
        Random.Shared.NextBytes(random);
        return new MacAddress(QemuPrefix | (ulong)random[0] << 16 | (ulong)random[1] << 8 | random[2]);
    }

    public override string ToString()
    {
        Span<byte> b = stackalloc byte[6];
        Write(b);
        return string.Create(CultureInfo.InvariantCulture, $"{b[0]:x2}:{b[1]:x2}:{b[2]:x2}:{b[3]:x2}:{b[4]:x2}:{b[5]:x2}");
    }
}
