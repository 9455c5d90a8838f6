using System.Buffers.Binary;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Pci;

/// <summary>
/// The MSI-X capability (PCI Local Bus Spec 3.0, 6.8.2): Message Control with the Enable and Function Mask bits,
/// and a vector table and Pending Bit Array that live in memory BARs of the function. The device forwards
/// accesses in those BARs to <see cref="TryRead"/>/<see cref="TryWrite"/> (or maps <see cref="CreateBarHandler"/>).
/// </summary>
public sealed class MsiXCapability : PciCapability
{
    public const int EntrySize = 16;
    public const int MaxVectors = 2048;

    private const ushort ControlFunctionMask = 1 << 14;
    private const ushort ControlEnable = 1 << 15;
    private const int VectorControl = 12;
    private const uint VectorControlMask = 1;

    private readonly byte[] _table;
    private readonly ulong[] _pending;

    internal MsiXCapability(PciDevice owner, int vectors, int tableBar, uint tableOffset, int pbaBar, uint pbaOffset)
        : base(owner, PciCapabilityId.MsiX, 12)
    {
        if (vectors is < 1 or > MaxVectors)
            throw new ArgumentOutOfRangeException(nameof(vectors), vectors, "MSI-X offers 1..2048 vectors");
        // The BIR names BAR0-5 and the offsets are QWORD aligned: their low 3 bits carry the BIR (6.8.2.4/5).
        if (tableBar is < 0 or >= PciRegisters.BarCount || pbaBar is < 0 or >= PciRegisters.BarCount)
            throw new ArgumentOutOfRangeException(nameof(tableBar), "MSI-X structures live in BAR0-5");
        if ((tableOffset & 7) != 0 || (pbaOffset & 7) != 0)
            throw new ArgumentException("MSI-X table and PBA offsets must be QWORD aligned");

        TableSize = vectors;
        TableBar = tableBar;
        TableOffset = tableOffset;
        PbaBar = pbaBar;
        PbaOffset = pbaOffset;
        _table = new byte[vectors * EntrySize];
        _pending = new ulong[(vectors + 63) / 64];
        if (tableBar == pbaBar && tableOffset < pbaOffset + PbaLength && pbaOffset < tableOffset + TableLength)
            throw new ArgumentException("MSI-X table and PBA overlap");

        Config.SetWord(Offset + 2, (ushort)(vectors - 1));
        Config.SetWriteMask(Offset + 2, 2, ControlEnable | ControlFunctionMask);
        Config.SetDword(Offset + 4, tableOffset | (uint)tableBar);
        Config.SetDword(Offset + 8, pbaOffset | (uint)pbaBar);
        ResetTable();
    }

    public int TableSize { get; }
    public int TableBar { get; }
    public uint TableOffset { get; }
    public int PbaBar { get; }
    public uint PbaOffset { get; }
    public uint TableLength => (uint)_table.Length;
    public uint PbaLength => (uint)_pending.Length * 8;

    public bool Enabled => (Control & ControlEnable) != 0;
    public bool FunctionMasked => (Control & ControlFunctionMask) != 0;

    private ushort Control => Config.GetWord(Offset + 2);

    public bool IsVectorMasked(int vector) => (Entry(vector)[VectorControl] & VectorControlMask) != 0;

    public bool IsPending(int vector) => (_pending[vector / 64] & 1UL << (vector % 64)) != 0;

    public ulong MessageAddress(int vector) => BinaryPrimitives.ReadUInt64LittleEndian(Entry(vector));

    public uint MessageData(int vector) => BinaryPrimitives.ReadUInt32LittleEndian(Entry(vector)[8..]);

    /// <summary>Serves a read in BAR <paramref name="bar"/> if it falls in the table or PBA; false otherwise.</summary>
    public bool TryRead(int bar, ulong offset, Span<byte> data)
    {
        lock (Owner.SyncRoot)
        {
            if (InTable(bar, offset, data.Length))
            {
                _table.AsSpan((int)(offset - TableOffset), data.Length).CopyTo(data);
                return true;
            }
            if (InPba(bar, offset, data.Length))
            {
                int start = (int)(offset - PbaOffset);
                for (int i = 0; i < data.Length; i++)
                    data[i] = (byte)(_pending[(start + i) / 8] >> (8 * ((start + i) % 8)));
                return true;
            }
            return false;
        }
    }

    /// <summary>
    /// Serves a write in BAR <paramref name="bar"/> if it falls in the table or PBA (read-only, 6.8.2.10);
    /// false otherwise. Only the Mask bit of Vector Control is writable (6.8.2.9).
    /// </summary>
    public bool TryWrite(int bar, ulong offset, ReadOnlySpan<byte> data)
    {
        lock (Owner.SyncRoot)
        {
            if (InTable(bar, offset, data.Length))
            {
                int start = (int)(offset - TableOffset);
                for (int i = 0; i < data.Length; i++)
                {
                    int at = start + i;
                    int field = at % EntrySize;
                    if (field < VectorControl) _table[at] = data[i];
                    else if (field == VectorControl) _table[at] = (byte)(data[i] & VectorControlMask);
                }
                DeliverPending();
                return true;
            }
            return InPba(bar, offset, data.Length);
        }
    }

    /// <summary>A bus handler for a BAR that holds only MSI-X structures; the rest of it reads zero.</summary>
    public IBusDevice CreateBarHandler(int bar) => new BarHandler(this, bar);

    /// <summary>
    /// Sends the message of table entry <paramref name="vector"/>, or sets its pending bit while the vector or the
    /// function is masked (6.8.2.9). A vector the table does not have signals nothing.
    /// </summary>
    internal void Signal(int vector)
    {
        if ((uint)vector >= (uint)TableSize) return;
        if (FunctionMasked || IsVectorMasked(vector))
        {
            _pending[vector / 64] |= 1UL << (vector % 64);
            return;
        }
        Owner.SendMessage(MessageAddress(vector), MessageData(vector));
    }

    internal override void ConfigWritten()
    {
        Owner.UpdateIntxPin();
        DeliverPending();
    }

    internal override void Reset()
    {
        ResetTable();
        Array.Clear(_pending);
    }

    /// <summary>Pending vectors whose masks are now clear are sent and their pending bits cleared (6.8.2.9).</summary>
    private void DeliverPending()
    {
        if (!Enabled || FunctionMasked) return;
        for (int vector = 0; vector < TableSize; vector++)
        {
            if (!IsPending(vector) || IsVectorMasked(vector)) continue;
            _pending[vector / 64] &= ~(1UL << (vector % 64));
            Owner.SendMessage(MessageAddress(vector), MessageData(vector));
        }
    }

    /// <summary>Every entry comes out of reset masked with zero address and data (6.8.2.9).</summary>
    private void ResetTable()
    {
        Array.Clear(_table);
        for (int v = 0; v < TableSize; v++) _table[v * EntrySize + VectorControl] = (byte)VectorControlMask;
    }

    private Span<byte> Entry(int vector) => _table.AsSpan(vector * EntrySize, EntrySize);

    private bool InTable(int bar, ulong offset, int size) =>
        bar == TableBar && offset >= TableOffset && offset + (ulong)size <= TableOffset + TableLength;

    private bool InPba(int bar, ulong offset, int size) =>
        bar == PbaBar && offset >= PbaOffset && offset + (ulong)size <= PbaOffset + PbaLength;

    private sealed class BarHandler(MsiXCapability msix, int bar) : IBusDevice
    {
        public void Read(ulong baseAddress, ulong offset, Span<byte> data)
        {
            if (!msix.TryRead(bar, offset, data)) data.Clear();
        }

        public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data) => msix.TryWrite(bar, offset, data);
    }
}
