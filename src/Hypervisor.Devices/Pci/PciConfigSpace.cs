namespace Hypervisor.Devices.Pci;

/// <summary>
/// The configuration space of one PCI function: the register bytes plus, per byte, which bits the guest may
/// write and which bits a guest write of 1 clears (the status register's error bits, PCI 3.0 6.2.3). The
/// device side sets values and masks with the <c>Set*</c> methods, which ignore the masks; the guest side goes
/// through <see cref="Read"/> and <see cref="Write"/>. Not thread-safe: <see cref="PciDevice"/> serialises.
/// </summary>
public sealed class PciConfigSpace
{
    /// <summary>Conventional PCI configuration space (6.1).</summary>
    public const int ConventionalSize = 256;

    /// <summary>PCI Express extended configuration space.</summary>
    public const int ExtendedSize = 4096;

    private readonly byte[] _bytes;
    private readonly byte[] _writable;
    private readonly byte[] _writeOneToClear;
    private int _nextCapabilityOffset = PciRegisters.HeaderEnd;
    private int _lastCapabilityOffset;

    public PciConfigSpace(int size = ConventionalSize)
    {
        if (size is not (ConventionalSize or ExtendedSize))
            throw new ArgumentOutOfRangeException(nameof(size), size, "configuration space is 256 or 4096 bytes");
        _bytes = new byte[size];
        _writable = new byte[size];
        _writeOneToClear = new byte[size];
    }

    public int Size => _bytes.Length;

    /// <summary>A guest read of 1, 2 or 4 bytes; bytes past the end read as all ones.</summary>
    public uint Read(int offset, int size)
    {
        CheckAccess(offset, size);
        uint value = 0;
        for (int i = size - 1; i >= 0; i--)
            value = (value << 8) | (offset + i < _bytes.Length ? _bytes[offset + i] : 0xFFu);
        return value;
    }

    /// <summary>A guest write: only writable bits change; write-1-to-clear bits clear where a 1 is written.</summary>
    public void Write(int offset, int size, uint value)
    {
        CheckAccess(offset, size);
        for (int i = 0; i < size && offset + i < _bytes.Length; i++, value >>= 8)
        {
            int o = offset + i;
            byte b = (byte)value;
            byte next = (byte)((_bytes[o] & ~_writable[o]) | (b & _writable[o]));
            next &= (byte)~(b & _writeOneToClear[o]);
            _bytes[o] = next;
        }
    }

    public byte GetByte(int offset) => _bytes[offset];
    public ushort GetWord(int offset) => (ushort)(_bytes[offset] | _bytes[offset + 1] << 8);
    public uint GetDword(int offset) => GetWord(offset) | (uint)GetWord(offset + 2) << 16;

    public void SetByte(int offset, byte value) => _bytes[offset] = value;

    public void SetWord(int offset, ushort value)
    {
        _bytes[offset] = (byte)value;
        _bytes[offset + 1] = (byte)(value >> 8);
    }

    public void SetDword(int offset, uint value)
    {
        SetWord(offset, (ushort)value);
        SetWord(offset + 2, (ushort)(value >> 16));
    }

    /// <summary>Which bits of the <paramref name="size"/> bytes at <paramref name="offset"/> the guest may write.</summary>
    public void SetWriteMask(int offset, int size, uint mask)
    {
        for (int i = 0; i < size; i++, mask >>= 8) _writable[offset + i] = (byte)mask;
    }

    /// <summary>Which bits a guest write of 1 clears (RW1C); they must not also be in the write mask.</summary>
    public void SetWriteOneToClearMask(int offset, int size, uint mask)
    {
        for (int i = 0; i < size; i++, mask >>= 8) _writeOneToClear[offset + i] = (byte)mask;
    }

    public uint GetWriteMask(int offset, int size)
    {
        uint mask = 0;
        for (int i = size - 1; i >= 0; i--) mask = (mask << 8) | _writable[offset + i];
        return mask;
    }

    public ushort VendorId => GetWord(PciRegisters.VendorId);
    public ushort DeviceId => GetWord(PciRegisters.DeviceId);
    public PciCommand Command => (PciCommand)GetWord(PciRegisters.Command);
    public PciStatus Status => (PciStatus)GetWord(PciRegisters.Status);
    public byte HeaderType => GetByte(PciRegisters.HeaderType);
    public byte InterruptLine => GetByte(PciRegisters.InterruptLine);
    public PciInterruptPin InterruptPin => (PciInterruptPin)GetByte(PciRegisters.InterruptPin);

    /// <summary>Sets or clears device-owned status bits (Interrupt Status, Capabilities List ...).</summary>
    public void SetStatusBits(PciStatus bits, bool on)
    {
        var status = (ushort)Status;
        SetWord(PciRegisters.Status, (ushort)(on ? status | (ushort)bits : status & ~(ushort)bits));
    }

    /// <summary>
    /// Fills the type 0 header with its identity and the masks every function has (6.2): the command register's
    /// implemented bits, the status error bits as RW1C, Cache Line Size and Latency Timer as R/W, Interrupt
    /// Line as R/W (a scratch register for software) and the Interrupt Pin.
    /// </summary>
    public void InitializeType0Header(ushort vendorId, ushort deviceId, uint classCode, byte revision,
        PciInterruptPin pin, bool multiFunction = false)
    {
        SetWord(PciRegisters.VendorId, vendorId);
        SetWord(PciRegisters.DeviceId, deviceId);
        SetByte(PciRegisters.RevisionId, revision);
        SetByte(PciRegisters.ClassCode, (byte)classCode);
        SetByte(PciRegisters.ClassCode + 1, (byte)(classCode >> 8));
        SetByte(PciRegisters.ClassCode + 2, (byte)(classCode >> 16));
        SetByte(PciRegisters.HeaderType, multiFunction ? PciRegisters.MultiFunction : (byte)0);
        var command = PciCommand.IoSpace | PciCommand.MemorySpace | PciCommand.BusMaster |
                      PciCommand.ParityErrorResponse | PciCommand.SerrEnable;
        if (pin != PciInterruptPin.None) command |= PciCommand.InterruptDisable;
        SetWriteMask(PciRegisters.Command, 2, (uint)command);
        SetWriteOneToClearMask(PciRegisters.Status, 2, (uint)PciStatus.ErrorBits);
        SetWriteMask(PciRegisters.CacheLineSize, 1, 0xFF);
        SetWriteMask(PciRegisters.LatencyTimer, 1, 0xFF);
        SetWriteMask(PciRegisters.InterruptLine, 1, 0xFF);
        SetByte(PciRegisters.InterruptPin, (byte)pin);
    }

    /// <summary>
    /// Appends a capability of <paramref name="length"/> bytes to the list (6.7): the first one sets Status bit 4
    /// and the Capabilities Pointer, later ones are linked from the previous one's Next pointer. The ID and Next
    /// bytes are read-only; the caller lays out (and makes writable) the rest. Returns the capability's offset.
    /// </summary>
    public int AddCapability(byte id, int length)
    {
        if (length < 2) throw new ArgumentOutOfRangeException(nameof(length), "a capability has at least ID and Next");
        // Capabilities are DWORD aligned and live in the device-specific part of the 256-byte space (6.7).
        int offset = (_nextCapabilityOffset + 3) & ~3;
        if (offset + length > ConventionalSize)
            throw new InvalidOperationException($"capability 0x{id:x2} of {length} bytes does not fit");
        SetByte(offset, id);
        SetByte(offset + 1, 0);
        if (_lastCapabilityOffset == 0)
        {
            SetByte(PciRegisters.CapabilitiesPointer, (byte)offset);
            SetStatusBits(PciStatus.CapabilitiesList, true);
        }
        else
        {
            SetByte(_lastCapabilityOffset + 1, (byte)offset);
        }
        _lastCapabilityOffset = offset;
        _nextCapabilityOffset = offset + length;
        return offset;
    }

    /// <summary>
    /// Walks the capability list the way system software does (6.7): from the Capabilities Pointer with the low two
    /// bits masked, until a Next of zero; stops on a loop.
    /// </summary>
    public IReadOnlyList<(byte Id, int Offset)> WalkCapabilities()
    {
        var result = new List<(byte, int)>();
        if ((Status & PciStatus.CapabilitiesList) == 0) return result;
        int offset = GetByte(PciRegisters.CapabilitiesPointer) & 0xFC;
        var seen = new HashSet<int>();
        while (offset >= PciRegisters.HeaderEnd && seen.Add(offset))
        {
            result.Add((GetByte(offset), offset));
            offset = GetByte(offset + 1) & 0xFC;
        }
        return result;
    }

    /// <summary>Copies the register bytes (not the masks) for a later <see cref="RestoreValues"/>.</summary>
    public byte[] CaptureValues() => (byte[])_bytes.Clone();

    public void RestoreValues(byte[] values)
    {
        if (values.Length != _bytes.Length) throw new ArgumentException("configuration image size differs");
        values.CopyTo(_bytes, 0);
    }

    private void CheckAccess(int offset, int size)
    {
        if (size is not (1 or 2 or 4)) throw new ArgumentOutOfRangeException(nameof(size), size, "1, 2 or 4 bytes");
        if (offset < 0 || offset >= _bytes.Length)
            throw new ArgumentOutOfRangeException(nameof(offset), offset, "outside configuration space");
    }
}
