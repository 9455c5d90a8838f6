using System.Buffers.Binary;
using System.Text;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// QEMU's firmware configuration device, traditional I/O interface (docs/specs/fw_cfg.rst): a 16-bit selector
/// at 0x510 picks an item, and byte reads at 0x511 stream it from the start, reading 0 past its end. Items are
/// numbered keys (signature, RAM size, CPU count, the Linux boot items QEMU defines) plus named files listed in a
/// directory at key 0x19 with selectors assigned from 0x20. Firmware written for QEMU (SeaBIOS, test guests)
/// finds the machine's facts here. Given guest memory, the device also offers the DMA interface (ID bit 1): the
/// guest writes the address of an FWCfgDmaAccess descriptor to ports 0x514 (high half) and 0x518 (low half, which
/// starts the transfer), big-endian, and the item is copied into guest RAM in one go.
/// </summary>
public sealed class FwCfg : IBusDevice
{
    public const ushort SelectorPort = 0x510;
    public const ushort DataPort = 0x511;
    public const ushort DmaAddressHighPort = 0x514;
    public const ushort DmaAddressLowPort = 0x518;
    private const int PortCount = 12;

    /// <summary>What a read of the DMA address register returns: "QEMU CFG" as a big-endian quadword.</summary>
    public const ulong DmaSignature = 0x5145_4D55_2043_4647;

    /// <summary>FWCfgDmaAccess.control bits (docs/specs/fw_cfg.rst).</summary>
    public static class DmaControl
    {
        public const uint Error = 0x01, Read = 0x02, Skip = 0x04, Select = 0x08, Write = 0x10;
    }

    /// <summary>Item selectors QEMU defines (include/standard-headers/linux/qemu_fw_cfg.h).</summary>
    public static class Keys
    {
        public const ushort Signature = 0x00, Id = 0x01, Uuid = 0x02, RamSize = 0x03, NoGraphic = 0x04,
            NbCpus = 0x05, MachineId = 0x06, KernelAddr = 0x07, KernelSize = 0x08, KernelCmdline = 0x09,
            InitrdAddr = 0x0A, InitrdSize = 0x0B, BootDevice = 0x0C, Numa = 0x0D, BootMenu = 0x0E, MaxCpus = 0x0F,
            KernelEntry = 0x10, KernelData = 0x11, InitrdData = 0x12, CmdlineAddr = 0x13, CmdlineSize = 0x14,
            CmdlineData = 0x15, SetupAddr = 0x16, SetupSize = 0x17, SetupData = 0x18, FileDir = 0x19;

        public const ushort FirstFile = 0x20;

        /// <summary>Selector bit that marks a write; writes through the traditional interface are ignored.</summary>
        public const ushort WriteChannel = 0x4000;

        /// <summary>Selector bit for architecture-specific items (x86: ACPI tables 0x8000, E820 0x8003...).</summary>
        public const ushort ArchLocal = 0x8000;
    }

    /// <summary>A file name holds at most 55 bytes plus its terminating NUL (FW_CFG_MAX_FILE_PATH).</summary>
    public const int MaxFileNameLength = 55;

    private const int FileDirEntrySize = 64;

    /// <summary>ID bit 0: the traditional interface exists; bit 1: the DMA interface does.</summary>
    private const uint IdTraditional = 0x01, IdDma = 0x02;

    /// <summary>FWCfgDmaAccess: control (BE32), length (BE32), address (BE64).</summary>
    private const int DmaAccessSize = 16;

    private readonly object _lock = new();
    private readonly Dictionary<ushort, ReadOnlyMemory<byte>> _items = [];
    private readonly List<(string Name, ushort Key)> _files = [];
    private readonly GuestMemory? _dmaMemory;
    private ushort _selected;
    private int _offset;
    private uint _dmaAddressHigh;

    /// <param name="dmaMemory">Guest memory for the DMA interface; without it only the port interface exists.</param>
    public FwCfg(ulong ramSize, int cpuCount, GuestMemory? dmaMemory = null)
    {
        _dmaMemory = dmaMemory;
        _items[Keys.Signature] = "QEMU"u8.ToArray();
        _items[Keys.Id] = LittleEndian32(dmaMemory is null ? IdTraditional : IdTraditional | IdDma);
        SetUInt64(Keys.RamSize, ramSize);
        SetUInt16(Keys.NbCpus, checked((ushort)cpuCount));
        RebuildFileDirectory();
    }

    /// <summary>Selector and data ports, and with DMA the address register at 0x514-0x51B (QEMU's x86 layout).</summary>
    public void RegisterPorts(PortIoBus bus) =>
        bus.Register(SelectorPort, (ushort)(_dmaMemory is null ? 2 : PortCount), this, "fw_cfg");

    /// <summary>Sets a numbered item (not the signature, ID or file directory, which the device owns).</summary>
    public void SetBytes(ushort key, ReadOnlyMemory<byte> data)
    {
        key = ItemKey(key);
        if (key is Keys.Signature or Keys.Id or Keys.FileDir)
            throw new ArgumentException($"fw_cfg item 0x{key:x} is maintained by the device", nameof(key));
        lock (_lock) _items[key] = data;
    }

    public void SetUInt16(ushort key, ushort value)
    {
        var data = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(data, value);
        SetBytes(key, data);
    }

    public void SetUInt32(ushort key, uint value) => SetBytes(key, LittleEndian32(value));

    public void SetUInt64(ushort key, ulong value)
    {
        var data = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(data, value);
        SetBytes(key, data);
    }

    /// <summary>A string item as QEMU stores the command line: its bytes and a terminating NUL.</summary>
    public void SetString(ushort key, string value)
    {
        var data = new byte[Encoding.UTF8.GetByteCount(value) + 1];
        Encoding.UTF8.GetBytes(value, data);
        SetBytes(key, data);
    }

    /// <summary>Adds a named file and lists it in the directory; returns the selector it got.</summary>
    public ushort AddFile(string name, ReadOnlyMemory<byte> data)
    {
        int length = Encoding.UTF8.GetByteCount(name);
        if (length == 0 || length > MaxFileNameLength)
            throw new ArgumentException($"fw_cfg file name '{name}' must be 1-{MaxFileNameLength} bytes", nameof(name));
        lock (_lock)
        {
            if (_files.Exists(f => f.Name == name))
                throw new ArgumentException($"fw_cfg file '{name}' already exists", nameof(name));
            ushort key = (ushort)(Keys.FirstFile + _files.Count);
            if (key >= Keys.WriteChannel) throw new InvalidOperationException("fw_cfg has no free file selectors");
            _files.Add((name, key));
            _items[key] = data;
            RebuildFileDirectory();
            return key;
        }
    }

    /// <summary>Replaces the contents of a file added before (its size in the directory follows).</summary>
    public void ReplaceFile(string name, ReadOnlyMemory<byte> data)
    {
        lock (_lock)
        {
            int index = _files.FindIndex(f => f.Name == name);
            if (index < 0) throw new ArgumentException($"fw_cfg has no file '{name}'", nameof(name));
            _items[_files[index].Key] = data;
            RebuildFileDirectory();
        }
    }

    public bool TryGetFileSelector(string name, out ushort key)
    {
        lock (_lock)
        {
            int index = _files.FindIndex(f => f.Name == name);
            key = index < 0 ? (ushort)0 : _files[index].Key;
            return index >= 0;
        }
    }

    public void Read(ulong baseAddress, ulong offset, Span<byte> data)
    {
        lock (_lock)
        {
            if (offset >= DmaAddressHighPort - SelectorPort)
            {
                // The DMA address register reads as the signature that tells firmware the interface is real.
                Span<byte> signature = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64BigEndian(signature, DmaSignature);
                for (int i = 0; i < data.Length; i++)
                {
                    ulong at = offset - (ulong)(DmaAddressHighPort - SelectorPort) + (ulong)i;
                    data[i] = at < 8 ? signature[(int)at] : (byte)0;
                }
                return;
            }
            // Only byte reads of the data port are defined; wider ones stream consecutive bytes as QEMU's
            // data register does for its MMIO variant.
            if (offset != DataPort - SelectorPort)
            {
                data.Clear();
                return;
            }
            var item = _items.TryGetValue(_selected, out var value) ? value.Span : default;
            for (int i = 0; i < data.Length; i++)
            {
                data[i] = _offset < item.Length ? item[_offset] : (byte)0;
                if (_offset < item.Length) _offset++;
            }
        }
    }

    public void Write(ulong baseAddress, ulong offset, ReadOnlySpan<byte> data)
    {
        if (_dmaMemory is not null && data.Length == 4)
        {
            // The address register halves are big-endian; the low half's write starts the transfer.
            if (offset == DmaAddressHighPort - SelectorPort)
            {
                lock (_lock) _dmaAddressHigh = BinaryPrimitives.ReadUInt32BigEndian(data);
                return;
            }
            if (offset == DmaAddressLowPort - SelectorPort)
            {
                lock (_lock)
                {
                    ulong address = (ulong)_dmaAddressHigh << 32 | BinaryPrimitives.ReadUInt32BigEndian(data);
                    _dmaAddressHigh = 0;
                    RunDma(_dmaMemory, address);
                }
                return;
            }
        }
        // Data-port writes have been ignored since QEMU 2.4; only the 16-bit selector write does something.
        if (offset != 0 || data.Length != 2) return;
        lock (_lock)
        {
            _selected = ItemKey(BinaryPrimitives.ReadUInt16LittleEndian(data));
            _offset = 0;
        }
    }

    /// <summary>
    /// One DMA request (docs/specs/fw_cfg.rst, "DMA interface"): select, then read, skip or write, then clear
    /// control - or leave the error bit in it. Every guest address is checked against guest RAM first; a
    /// descriptor outside it is ignored, a transfer outside it fails with the error bit.
    /// </summary>
    private void RunDma(GuestMemory memory, ulong descriptor)
    {
        if (memory.Find(descriptor, DmaAccessSize) is not { ReadOnly: false }) return;
        Span<byte> access = stackalloc byte[DmaAccessSize];
        memory.Read(descriptor, access);
        uint control = BinaryPrimitives.ReadUInt32BigEndian(access);
        uint length = BinaryPrimitives.ReadUInt32BigEndian(access[4..]);
        ulong address = BinaryPrimitives.ReadUInt64BigEndian(access[8..]);

        if ((control & DmaControl.Select) != 0)
        {
            _selected = ItemKey((ushort)(control >> 16));
            _offset = 0;
        }
        bool ok = true;
        var item = _items.TryGetValue(_selected, out var value) ? value.Span : default;
        if ((control & DmaControl.Read) != 0)
            ok = CopyToGuest(memory, item, address, length);
        else if ((control & DmaControl.Write) != 0)
            ok = false; // no item is writable through fw_cfg in hv (QEMU allows it only for a few of its own)
        if (ok && (control & (DmaControl.Read | DmaControl.Skip)) != 0)
            _offset = (int)Math.Min((ulong)item.Length, (ulong)_offset + length);

        Span<byte> result = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(result, ok ? 0 : DmaControl.Error);
        memory.Write(descriptor, result);
    }

    /// <summary>
    /// Copies <paramref name="length"/> bytes of the item from the current offset to guest RAM, zeros past the
    /// item's end. The destination may span regions (shadow segments) but must be RAM the guest may write.
    /// </summary>
    private bool CopyToGuest(GuestMemory memory, ReadOnlySpan<byte> item, ulong address, uint length)
    {
        ulong end = address + length;
        if (end < address) return false;
        for (ulong a = address; a < end;)
        {
            if (memory.Find(a) is not { ReadOnly: false } region) return false;
            a = Math.Min(end, region.End);
        }
        int source = _offset;
        for (ulong a = address; a < end;)
        {
            var region = memory.Find(a)!;
            int chunk = (int)Math.Min(end - a, Math.Min(region.End - a, int.MaxValue));
            var destination = memory.GetWritableSpan(a, chunk);
            int fromItem = Math.Clamp(item.Length - source, 0, chunk);
            if (fromItem > 0) item.Slice(source, fromItem).CopyTo(destination);
            destination[fromItem..].Clear();
            source += fromItem;
            a += (ulong)chunk;
        }
        return true;
    }

    private static ushort ItemKey(ushort selector) => (ushort)(selector & ~Keys.WriteChannel);

    /// <summary>The directory: a big-endian count, then per file size (BE32), select (BE16), reserved, name[56].</summary>
    private void RebuildFileDirectory()
    {
        var dir = new byte[4 + FileDirEntrySize * _files.Count];
        BinaryPrimitives.WriteUInt32BigEndian(dir, (uint)_files.Count);
        for (int i = 0; i < _files.Count; i++)
        {
            var entry = dir.AsSpan(4 + i * FileDirEntrySize, FileDirEntrySize);
            BinaryPrimitives.WriteUInt32BigEndian(entry, (uint)_items[_files[i].Key].Length);
            BinaryPrimitives.WriteUInt16BigEndian(entry[4..], _files[i].Key);
            Encoding.UTF8.GetBytes(_files[i].Name, entry[8..]);
        }
        _items[Keys.FileDir] = dir;
    }

    private static byte[] LittleEndian32(uint value)
    {
        var data = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(data, value);
        return data;
    }
}
