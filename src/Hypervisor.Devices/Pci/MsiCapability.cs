using System.Numerics;

namespace Hypervisor.Devices.Pci;

/// <summary>
/// The MSI capability (PCI Local Bus Spec 3.0, 6.8.1): Message Control, a 32- or 64-bit Message Address,
/// Message Data and, when per-vector masking is offered, the Mask and Pending Bits registers. All state lives in
/// configuration space, so a device reset restores it with the header.
/// </summary>
public sealed class MsiCapability : PciCapability
{
    private const ushort ControlEnable = 1 << 0;
    private const int MultipleMessageCapableShift = 1;
    private const int MultipleMessageEnableShift = 4;
    private const ushort ControlMultipleMessageEnable = 0x7 << MultipleMessageEnableShift;
    private const ushort Control64Bit = 1 << 7;
    private const ushort ControlPerVectorMasking = 1 << 8;

    internal MsiCapability(PciDevice owner, int vectors, bool is64Bit, bool perVectorMasking)
        : base(owner, PciCapabilityId.Msi, LengthOf(vectors, is64Bit, perVectorMasking))
    {
        VectorsCapable = vectors;
        Is64Bit = is64Bit;
        PerVectorMasking = perVectorMasking;

        ushort control = (ushort)(BitOperations.Log2((uint)vectors) << MultipleMessageCapableShift);
        if (is64Bit) control |= Control64Bit;
        if (perVectorMasking) control |= ControlPerVectorMasking;
        Config.SetWord(ControlOffset, control);
        Config.SetWriteMask(ControlOffset, 2, ControlEnable | ControlMultipleMessageEnable);
        // Message Address bits 1:0 are reserved, hardwired to 0 (6.8.1.4).
        Config.SetWriteMask(Offset + 4, 4, 0xFFFF_FFFC);
        if (is64Bit) Config.SetWriteMask(Offset + 8, 4, 0xFFFF_FFFF);
        Config.SetWriteMask(DataOffset, 2, 0xFFFF);
        if (perVectorMasking) Config.SetWriteMask(MaskOffset, 4, VectorBits(vectors));
    }

    /// <summary>Vectors the function requests (Multiple Message Capable): 1, 2, 4, 8, 16 or 32.</summary>
    public int VectorsCapable { get; }

    public bool Is64Bit { get; }
    public bool PerVectorMasking { get; }

    public bool Enabled => (Control & ControlEnable) != 0;

    /// <summary>Vectors software allocated (Multiple Message Enable), never more than the function asked for.</summary>
    public int VectorsEnabled =>
        Math.Min(1 << ((Control & ControlMultipleMessageEnable) >> MultipleMessageEnableShift), VectorsCapable);

    public ulong MessageAddress =>
        Config.GetDword(Offset + 4) | (Is64Bit ? (ulong)Config.GetDword(Offset + 8) << 32 : 0);

    public ushort MessageData => Config.GetWord(DataOffset);

    public uint MaskBits => PerVectorMasking ? Config.GetDword(MaskOffset) : 0;
    public uint PendingBits => PerVectorMasking ? Config.GetDword(PendingOffset) : 0;

    private ushort Control => Config.GetWord(ControlOffset);
    private int ControlOffset => Offset + 2;
    private int DataOffset => Offset + (Is64Bit ? 12 : 8);
    private int MaskOffset => DataOffset + 4;
    private int PendingOffset => MaskOffset + 4;

    /// <summary>
    /// Sends the message for <paramref name="vector"/>, or sets its pending bit while it is masked (6.8.3.3).
    /// With fewer vectors allocated than requested, vectors fold onto the allocated ones (6.8.3.4 leaves the
    /// choice to the function).
    /// </summary>
    internal void Signal(int vector)
    {
        int allocated = VectorsEnabled;
        int v = (int)((uint)vector % (uint)allocated);
        if ((MaskBits & (1u << v)) != 0)
        {
            Config.SetDword(PendingOffset, PendingBits | 1u << v);
            return;
        }
        Send(v, allocated);
    }

    internal override void ConfigWritten()
    {
        Owner.UpdateIntxPin();
        if (!Enabled || !PerVectorMasking) return;
        // A vector unmasked while its pending bit is set is sent now (6.8.3.3).
        uint deliverable = PendingBits & ~MaskBits;
        int allocated = VectorsEnabled;
        while (deliverable != 0)
        {
            int v = BitOperations.TrailingZeroCount(deliverable);
            deliverable &= deliverable - 1;
            Config.SetDword(PendingOffset, PendingBits & ~(1u << v));
            Send(v, allocated);
        }
    }

    private void Send(int vector, int allocated)
    {
        // The function replaces the low log2(allocated) bits of Message Data with the vector number (6.8.3.4).
        uint data = (uint)(MessageData & ~(allocated - 1)) | (uint)vector;
        Owner.SendMessage(MessageAddress, data);
    }

    private static int LengthOf(int vectors, bool is64Bit, bool perVectorMasking)
    {
        if (!BitOperations.IsPow2(vectors) || vectors > 32)
            throw new ArgumentOutOfRangeException(nameof(vectors), vectors, "MSI offers 1, 2, 4, 8, 16 or 32 vectors");
        return (is64Bit ? 14 : 10) + (perVectorMasking ? 10 : 0);
    }

    private static uint VectorBits(int vectors) => vectors == 32 ? 0xFFFF_FFFF : (1u << vectors) - 1;
}
