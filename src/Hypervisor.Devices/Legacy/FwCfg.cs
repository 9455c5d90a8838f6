using System.Buffers.Binary;
using System.Text;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Legacy;

/// <summary>
/// QEMU's firmware configuration device, traditional I/O interface (docs/specs/fw_cfg.rst): a 16-bit selector
/// at 0x510 picks an item, and byte reads at 0x511 stream it from the start, reading 0 past its end. Items are
/// numbered keys (signature, RAM size, CPU count, the Linux boot items QEMU defines) plus named files listed in a
/// directory at key 0x19 with selectors assigned from 0x20. Firmware written for QEMU (SeaBIOS, test guests)
/// finds the machine's facts here. The DMA interface is not offered, and the ID item says so.
/// </summary>
public sealed class FwCfg : IBusDevice
{
    public const ushort SelectorPort = 0x510;
    public const ushort DataPort = 0x511;

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

    /// <summary>ID bit 0: the traditional interface exists. Bit 1 (DMA) stays clear.</summary>
    private const uint IdTraditional = 0x01;

    private readonly object _lock = new();
    private readonly Dictionary<ushort, ReadOnlyMemory<byte>> _items = [];
    private readonly List<(string Name, ushort Key)> _files = [];
    private ushort _selected;
    private int _offset;

    public FwCfg(ulong ramSize, int cpuCount)
    {
        _items[Keys.Signature] = "QEMU"u8.ToArray();
        _items[Keys.Id] = LittleEndian32(IdTraditional);
        SetUInt64(Keys.RamSize, ramSize);
        SetUInt16(Keys.NbCpus, checked((ushort)cpuCount));
        RebuildFileDirectory();
    }

    public void RegisterPorts(PortIoBus bus) => bus.Register(SelectorPort, 2, this, "fw_cfg");

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
        // Data-port writes have been ignored since QEMU 2.4; only the 16-bit selector write does something.
        if (offset != 0 || data.Length != 2) return;
        lock (_lock)
        {
            _selected = ItemKey(BinaryPrimitives.ReadUInt16LittleEndian(data));
            _offset = 0;
        }
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
