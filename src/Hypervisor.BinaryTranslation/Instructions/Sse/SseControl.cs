using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.State;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Instructions.Sse;

/// <summary>LDMXCSR/STMXCSR and FXSAVE/FXRSTOR (Intel SDM Vol. 2A/2B; image layout Vol. 1, Table 10-2).</summary>
public static unsafe class SseControl
{
    /// <summary>LDMXCSR: setting a reserved bit raises #GP(0).</summary>
    public static bool Ldmxcsr(CpuContext c, ref Op op)
    {
        if (!c.Read<uint>(Addressing.Linear(c, ref op), out ulong v)) return false;
        if ((v & ~(ulong)CpuContext.MxcsrMask) != 0) return c.Fault(Vectors.GeneralProtection, 0);
        c.Mxcsr = (uint)v;
        return true;
    }

    public static bool Stmxcsr(CpuContext c, ref Op op) => c.Write<uint>(Addressing.Linear(c, ref op), c.Mxcsr);

    /// <summary>FXSAVE: x87, XMM and MXCSR state into a 16-byte aligned 512-byte area.</summary>
    public static bool Fxsave(CpuContext c, ref Op op)
    {
        ulong lin = Addressing.Linear(c, ref op);
        if ((lin & 15) != 0) return c.Fault(Vectors.GeneralProtection, 0);
        var image = new byte[512];
        c.SaveX87State(image);
        c.SaveSseState(image);
        // Bytes 416-511 are reserved or available to software; the processor leaves them alone (checked
        // against an AMD Zen host by the differential harness).
        fixed (byte* p = image)
            return c.WriteBytes(lin, p, 416);
    }

    public static bool Fxrstor(CpuContext c, ref Op op)
    {
        ulong lin = Addressing.Linear(c, ref op);
        if ((lin & 15) != 0) return c.Fault(Vectors.GeneralProtection, 0);
        var image = new byte[512];
        fixed (byte* p = image)
            if (!c.ReadBytes(lin, p, 512)) return false;
        if ((BitConverter.ToUInt32(image, 24) & ~CpuContext.MxcsrMask) != 0) return c.Fault(Vectors.GeneralProtection, 0);
        c.LoadX87State(image);
        c.LoadSseState(image);
        return true;
    }

    internal static bool Bind(in Instruction ins, ref Op op)
    {
        switch (ins.Mnemonic)
        {
            case Mnemonic.Ldmxcsr: op.Handler = &Ldmxcsr; return true;
            case Mnemonic.Stmxcsr: op.Handler = &Stmxcsr; return true;
            case Mnemonic.Fxsave: case Mnemonic.Fxsave64: op.Handler = &Fxsave; return true;
            case Mnemonic.Fxrstor: case Mnemonic.Fxrstor64: op.Handler = &Fxrstor; return true;
        }
        return false;
    }
}
