using System.Runtime.CompilerServices;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.State;

[InlineArray(8)]
public struct X87Registers
{
    private Float80 _element0;
}

/// <summary>
/// x87 FPU state (Intel SDM Vol. 1, 8.1): eight physical registers addressed relative to TOP, control and status
/// words, and the abridged tag word of FXSAVE (one "valid" bit per physical register).
/// </summary>
public sealed partial class CpuContext
{
    public X87Registers FpuRegs;
    public ushort Fcw = 0x037F;
    public ushort Fsw;

    /// <summary>Bit i set: physical register i holds a value (FXSAVE's abridged tag word).</summary>
    public byte FpuValid;

    public ushort Fop;
    public ulong Fip, Fdp;

    public int FpuTop
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Fsw >> 11) & 7;
        set => Fsw = (ushort)((Fsw & ~0x3800) | ((value & 7) << 11));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref Float80 St(int i) => ref FpuRegs[(FpuTop + i) & 7];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool StEmpty(int i) => (FpuValid & (1 << ((FpuTop + i) & 7))) == 0;

    public void SetStValid(int i, bool valid)
    {
        int bit = 1 << ((FpuTop + i) & 7);
        FpuValid = (byte)(valid ? FpuValid | bit : FpuValid & ~bit);
    }

    /// <summary>MMn: the significand of physical register Rn (Intel SDM Vol. 1, 9.5).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Mm(int n) => FpuRegs[n].Significand;

    /// <summary>Writing MMn also sets the register's sign and exponent (bits 79:64) to all ones.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void SetMm(int n, ulong value) => FpuRegs[n] = new Float80(value, 0xFFFF);

    /// <summary>The x87-to-MMX transition every MMX instruction but EMMS makes: TOP = 0, all tags valid.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void EnterMmx()
    {
        Fsw &= 0xC7FF;
        FpuValid = 0xFF;
    }

    /// <summary>Loads the x87 part of an FXSAVE image (bytes 0-159; registers in ST order from byte 32).</summary>
    public void LoadX87State(ReadOnlySpan<byte> fx)
    {
        Fcw = BitConverter.ToUInt16(fx);
        Fsw = BitConverter.ToUInt16(fx[2..]);
        FpuValid = fx[4];
        Fop = BitConverter.ToUInt16(fx[6..]);
        Fip = BitConverter.ToUInt64(fx[8..]);
        Fdp = BitConverter.ToUInt64(fx[16..]);
        for (int i = 0; i < 8; i++) St(i) = Float80.FromBytes(fx.Slice(32 + 16 * i, 10));
    }

    /// <summary>
    /// Writes the x87 part of an FXSAVE image. FOP/FIP/FDP are written only while an unmasked exception is
    /// pending (FSW.ES), zero otherwise - what AMD processors do (AMD APM Vol. 5, FXSAVE).
    /// </summary>
    public void SaveX87State(Span<byte> fx)
    {
        fx[..24].Clear();
        BitConverter.TryWriteBytes(fx, Fcw);
        BitConverter.TryWriteBytes(fx[2..], Fsw);
        fx[4] = FpuValid;
        if ((Fsw & 0x80) != 0)
        {
            BitConverter.TryWriteBytes(fx[6..], Fop);
            BitConverter.TryWriteBytes(fx[8..], Fip);
            BitConverter.TryWriteBytes(fx[16..], Fdp);
        }
        for (int i = 0; i < 8; i++)
        {
            var slot = fx.Slice(32 + 16 * i, 16);
            slot.Clear();
            St(i).WriteBytes(slot);
        }
    }

    public void FpuInit()
    {
        Fcw = 0x037F;
        Fsw = 0;
        FpuValid = 0;
        Fop = 0;
        Fip = Fdp = 0;
    }
}
