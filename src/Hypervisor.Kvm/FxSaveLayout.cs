using System.Buffers.Binary;
using Hypervisor.Kvm.Native;

namespace Hypervisor.Kvm;

/// <summary>
/// Converts between the FXSAVE image <c>CpuState</c> keeps (Intel SDM Vol. 1, 10.5.1, 64-bit form) and
/// struct kvm_fpu, which KVM uses when the host has no XSAVE (QEMU's qemu64 CPU model, for one).
/// </summary>
internal static unsafe class FxSaveLayout
{
    private const int Fcw = 0, Fsw = 2, Ftw = 4, Fop = 6, Fip = 8, Fdp = 16, Mxcsr = 24, St0 = 32, Xmm0 = 160;

    public static void FromKvmFpu(in kvm_fpu f, Span<byte> fx)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(fx[Fcw..], f.fcw);
        BinaryPrimitives.WriteUInt16LittleEndian(fx[Fsw..], f.fsw);
        fx[Ftw] = f.ftwx;
        BinaryPrimitives.WriteUInt16LittleEndian(fx[Fop..], f.last_opcode);
        BinaryPrimitives.WriteUInt64LittleEndian(fx[Fip..], f.last_ip);
        BinaryPrimitives.WriteUInt64LittleEndian(fx[Fdp..], f.last_dp);
        BinaryPrimitives.WriteUInt32LittleEndian(fx[Mxcsr..], f.mxcsr);
        fixed (byte* fpr = f.fpr) new ReadOnlySpan<byte>(fpr, 128).CopyTo(fx[St0..]);
        fixed (byte* xmm = f.xmm) new ReadOnlySpan<byte>(xmm, 256).CopyTo(fx[Xmm0..]);
    }

    public static kvm_fpu ToKvmFpu(ReadOnlySpan<byte> fx)
    {
        var f = new kvm_fpu
        {
            fcw = BinaryPrimitives.ReadUInt16LittleEndian(fx[Fcw..]),
            fsw = BinaryPrimitives.ReadUInt16LittleEndian(fx[Fsw..]),
            ftwx = fx[Ftw],
            last_opcode = BinaryPrimitives.ReadUInt16LittleEndian(fx[Fop..]),
            last_ip = BinaryPrimitives.ReadUInt64LittleEndian(fx[Fip..]),
            last_dp = BinaryPrimitives.ReadUInt64LittleEndian(fx[Fdp..]),
            mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(fx[Mxcsr..]),
        };
        fx.Slice(St0, 128).CopyTo(new Span<byte>(f.fpr, 128));
        fx.Slice(Xmm0, 256).CopyTo(new Span<byte>(f.xmm, 256));
        return f;
    }
}
