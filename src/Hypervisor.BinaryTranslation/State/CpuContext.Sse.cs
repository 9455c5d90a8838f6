using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Hypervisor.BinaryTranslation.State;

[InlineArray(16)]
public struct XmmFile
{
    private Vector128<byte> _element0;
}

/// <summary>SSE state: XMM0-15 and MXCSR (Intel SDM Vol. 1, 10.2). x87/MMX stays in the FXSAVE image for now.</summary>
public sealed partial class CpuContext
{
    public const uint MxcsrDefault = 0x1F80;

    /// <summary>Writable MXCSR bits (MXCSR_MASK 0xFFFF: DAZ supported).</summary>
    public const uint MxcsrMask = 0xFFFF;

    public XmmFile Xmm;
    public uint Mxcsr = MxcsrDefault;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref Vector128<byte> XmmReg(int index) => ref Unsafe.Add(ref Xmm[0], index);

    /// <summary>Loads XMM and MXCSR from an FXSAVE image (Intel SDM Vol. 1, Table 10-2).</summary>
    public void LoadSseState(ReadOnlySpan<byte> fxsave)
    {
        Mxcsr = BitConverter.ToUInt32(fxsave[24..]);
        for (int i = 0; i < 16; i++) XmmReg(i) = Vector128.Create(fxsave.Slice(160 + 16 * i, 16));
    }

    public void SaveSseState(Span<byte> fxsave)
    {
        BitConverter.TryWriteBytes(fxsave[24..], Mxcsr);
        BitConverter.TryWriteBytes(fxsave[28..], MxcsrMask);
        for (int i = 0; i < 16; i++) XmmReg(i).CopyTo(fxsave.Slice(160 + 16 * i, 16));
    }

    /// <summary>Reads 16 bytes; <paramref name="aligned"/> forms raise #GP(0) on a misaligned address.</summary>
    public bool Read128(ulong linear, bool aligned, out Vector128<byte> value)
    {
        value = default;
        if (aligned && (linear & 15) != 0) return Fault(Vectors.GeneralProtection, 0);
        if (!Read<ulong>(linear, out ulong lo) || !Read<ulong>((linear + 8) & LinearMask, out ulong hi)) return false;
        value = Vector128.Create(lo, hi).AsByte();
        return true;
    }

    public bool Write128(ulong linear, bool aligned, Vector128<byte> value)
    {
        if (aligned && (linear & 15) != 0) return Fault(Vectors.GeneralProtection, 0);
        if (!ProbeWrite(linear, 16)) return false;
        var q = value.AsUInt64();
        return Write<ulong>(linear, q.GetElement(0)) && Write<ulong>((linear + 8) & LinearMask, q.GetElement(1));
    }
}
