using System.Buffers.Binary;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Instructions.Fpu;

/// <summary>
/// The x87 environment images of FNSTENV/FLDENV and the state images of FNSAVE/FRSTOR (Intel SDM Vol. 1 §8.1.10,
/// Figures 8-9 to 8-12): 14 bytes with a 16-bit operand size, 28 with a 32-bit one (also in 64-bit mode), each in
/// a protected-mode layout (FIP/FCS, FDP/FDS selector:offset; the 32-bit form adds FOP) and a real/virtual-8086
/// layout (20- or 32-bit linear instruction and operand pointers split around FOP). FNSAVE/FRSTOR append ST(0)-ST(7)
/// (10 bytes each, stack order): 94 or 108 bytes. The full tag word has two bits per physical register:
/// 00 valid, 01 zero, 10 special (NaN, infinity, denormal, unsupported), 11 empty.
/// The engine keeps FCS in bits 32-47 of <see cref="CpuContext.Fip"/> and FDS in bits 32-47 of
/// <see cref="CpuContext.Fdp"/>, the way the 32-bit FXSAVE image holds them.
/// </summary>
public static class X87Environment
{
    public static int EnvironmentSize(bool wide) => wide ? 28 : 14;

    public static ushort TagWord(CpuContext c)
    {
        int tw = 0;
        for (int i = 0; i < 8; i++)
        {
            int tag;
            if ((c.FpuValid & (1 << i)) == 0) tag = 3;
            else
            {
                var v = c.FpuRegs[i];
                tag = v.Class switch
                {
                    Float80Class.Zero => 1,
                    Float80Class.Normal => 0,
                    _ => 2,
                };
            }
            tw |= tag << (2 * i);
        }
        return (ushort)tw;
    }

    /// <summary>Writes the environment; <paramref name="real"/> selects the real/virtual-8086 layout.</summary>
    public static void Store(CpuContext c, Span<byte> image, bool wide, bool real)
    {
        ushort tw = TagWord(c);
        uint ip = (uint)c.Fip, dp = (uint)c.Fdp;
        ushort cs = (ushort)(c.Fip >> 32), ds = (ushort)(c.Fdp >> 32);
        uint fop = c.Fop & 0x7FFu;
        if (wide)
        {
            // The reserved upper halves of the first three doublewords read as ones (as the host CPU stores them).
            BinaryPrimitives.WriteUInt32LittleEndian(image, 0xFFFF_0000u | c.Fcw);
            BinaryPrimitives.WriteUInt32LittleEndian(image[4..], 0xFFFF_0000u | c.Fsw);
            BinaryPrimitives.WriteUInt32LittleEndian(image[8..], 0xFFFF_0000u | tw);
            if (real)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(image[12..], 0xFFFF_0000u | (ip & 0xFFFF));
                BinaryPrimitives.WriteUInt32LittleEndian(image[16..], (ip >> 16) << 12 | fop);
                BinaryPrimitives.WriteUInt32LittleEndian(image[20..], 0xFFFF_0000u | (dp & 0xFFFF));
                BinaryPrimitives.WriteUInt32LittleEndian(image[24..], (dp >> 16) << 12);
            }
            else
            {
                BinaryPrimitives.WriteUInt32LittleEndian(image[12..], ip);
                BinaryPrimitives.WriteUInt32LittleEndian(image[16..], fop << 16 | cs);
                BinaryPrimitives.WriteUInt32LittleEndian(image[20..], dp);
                BinaryPrimitives.WriteUInt32LittleEndian(image[24..], 0xFFFF_0000u | ds);
            }
            return;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(image, c.Fcw);
        BinaryPrimitives.WriteUInt16LittleEndian(image[2..], c.Fsw);
        BinaryPrimitives.WriteUInt16LittleEndian(image[4..], tw);
        BinaryPrimitives.WriteUInt16LittleEndian(image[6..], (ushort)ip);
        BinaryPrimitives.WriteUInt16LittleEndian(image[10..], (ushort)dp);
        if (real)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(image[8..], (ushort)((ip >> 16 & 0xF) << 12 | fop));
            BinaryPrimitives.WriteUInt16LittleEndian(image[12..], (ushort)((dp >> 16 & 0xF) << 12));
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(image[8..], cs);
            BinaryPrimitives.WriteUInt16LittleEndian(image[12..], ds);
        }
    }

    /// <summary>
    /// Loads the environment. FCW's reserved bits are dropped (bit 6 reads as 1), FSW is taken as stored (TOP
    /// included) and a tag of 11 empties its register: the other tag values are recomputed from the contents.
    /// The caller recomputes ES/B (<see cref="Fpu.Commit"/>): unmasking a flagged exception makes it pending.
    /// </summary>
    public static void Load(CpuContext c, ReadOnlySpan<byte> image, bool wide, bool real)
    {
        ushort fcw, fsw, tw;
        ulong ip, dp;
        ushort fop;
        if (wide)
        {
            fcw = BinaryPrimitives.ReadUInt16LittleEndian(image);
            fsw = BinaryPrimitives.ReadUInt16LittleEndian(image[4..]);
            tw = BinaryPrimitives.ReadUInt16LittleEndian(image[8..]);
            uint d3 = BinaryPrimitives.ReadUInt32LittleEndian(image[12..]);
            uint d4 = BinaryPrimitives.ReadUInt32LittleEndian(image[16..]);
            uint d5 = BinaryPrimitives.ReadUInt32LittleEndian(image[20..]);
            uint d6 = BinaryPrimitives.ReadUInt32LittleEndian(image[24..]);
            if (real)
            {
                ip = (d3 & 0xFFFF) | (d4 >> 12 & 0xFFFF) << 16;
                dp = (d5 & 0xFFFF) | (d6 >> 12 & 0xFFFF) << 16;
                fop = (ushort)(d4 & 0x7FF);
            }
            else
            {
                ip = d3 | (ulong)(d4 & 0xFFFF) << 32;
                dp = d5 | (ulong)(d6 & 0xFFFF) << 32;
                fop = (ushort)(d4 >> 16 & 0x7FF);
            }
        }
        else
        {
            fcw = BinaryPrimitives.ReadUInt16LittleEndian(image);
            fsw = BinaryPrimitives.ReadUInt16LittleEndian(image[2..]);
            tw = BinaryPrimitives.ReadUInt16LittleEndian(image[4..]);
            ushort w3 = BinaryPrimitives.ReadUInt16LittleEndian(image[6..]);
            ushort w4 = BinaryPrimitives.ReadUInt16LittleEndian(image[8..]);
            ushort w5 = BinaryPrimitives.ReadUInt16LittleEndian(image[10..]);
            ushort w6 = BinaryPrimitives.ReadUInt16LittleEndian(image[12..]);
            if (real)
            {
                ip = w3 | (ulong)(w4 >> 12) << 16;
                dp = w5 | (ulong)(w6 >> 12) << 16;
                fop = (ushort)(w4 & 0x7FF);
            }
            else
            {
                ip = w3 | (ulong)w4 << 32;
                dp = w5 | (ulong)w6 << 32;
                fop = 0;
            }
        }
        c.Fcw = (ushort)((fcw & 0x1F3F) | 0x40);
        c.Fsw = fsw;
        c.Fip = ip;
        c.Fdp = dp;
        c.Fop = fop;
        byte valid = 0;
        for (int i = 0; i < 8; i++)
            if (((tw >> (2 * i)) & 3) != 3) valid |= (byte)(1 << i);
        c.FpuValid = valid;
    }
}
