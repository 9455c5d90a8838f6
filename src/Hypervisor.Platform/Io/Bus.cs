namespace Hypervisor.Platform.Io;

/// <summary>
/// An address space of device ranges. Registration rejects overlaps; lookup is a binary search over a
/// sorted snapshot, so the vCPU threads read it without locks while the VMM (rarely) re-registers BARs.
/// </summary>
public abstract class Bus
{
    public readonly record struct Range(ulong Base, ulong Length, IBusDevice Device, string Name)
    {
        public ulong End => Base + Length;
    }

    private readonly object _writeLock = new();
    private volatile Range[] _ranges = [];

    protected abstract string Kind { get; }

    /// <summary>Value every byte of a read reads when nothing answers (floating bus: all ones on a PC).</summary>
    protected virtual byte UnclaimedReadByte => 0xFF;

    public IReadOnlyList<Range> Ranges => _ranges;

    public void Register(ulong baseAddress, ulong length, IBusDevice device, string name)
    {
        if (length == 0) throw new ArgumentException($"{Kind} range for {name} is empty");
        if (baseAddress + length < baseAddress) throw new ArgumentException($"{Kind} range for {name} wraps");
        lock (_writeLock)
        {
            foreach (var r in _ranges)
                if (baseAddress < r.End && r.Base < baseAddress + length)
                    throw new InvalidOperationException(
                        $"{Kind} range 0x{baseAddress:x}-0x{baseAddress + length - 1:x} for {name} overlaps " +
                        $"0x{r.Base:x}-0x{r.End - 1:x} of {r.Name}");
            var list = new List<Range>(_ranges) { new(baseAddress, length, device, name) };
            list.Sort((a, b) => a.Base.CompareTo(b.Base));
            _ranges = [.. list];
        }
    }

    /// <summary>Removes the range that starts at <paramref name="baseAddress"/> (a BAR being moved).</summary>
    public bool Unregister(ulong baseAddress)
    {
        lock (_writeLock)
        {
            var list = new List<Range>(_ranges);
            int removed = list.RemoveAll(r => r.Base == baseAddress);
            _ranges = [.. list];
            return removed != 0;
        }
    }

    public bool TryFind(ulong address, out Range range)
    {
        var ranges = _ranges;
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ref readonly var r = ref ranges[mid];
            if (address < r.Base) hi = mid - 1;
            else if (address >= r.End) lo = mid + 1;
            else
            {
                range = r;
                return true;
            }
        }
        range = default;
        return false;
    }

    /// <summary>Reads; returns false (data filled with the floating-bus value) when nothing is there.</summary>
    public bool Read(ulong address, Span<byte> data)
    {
        if (TryFind(address, out var r))
        {
            r.Device.Read(r.Base, address - r.Base, data);
            return true;
        }
        data.Fill(UnclaimedReadByte);
        return false;
    }

    /// <summary>Writes; returns false (the write is dropped) when nothing is there.</summary>
    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        if (!TryFind(address, out var r)) return false;
        r.Device.Write(r.Base, address - r.Base, data);
        return true;
    }
}

/// <summary>The 64 KiB x86 I/O port space.</summary>
public sealed class PortIoBus : Bus
{
    protected override string Kind => "I/O port";

    public void Register(ushort port, ushort count, IBusDevice device, string name)
    {
        if (port + count > 0x10000) throw new ArgumentException($"I/O port range for {name} passes 0xFFFF");
        base.Register(port, count, device, name);
    }
}

/// <summary>Guest-physical addresses that are not RAM and belong to devices.</summary>
public sealed class MmioBus : Bus
{
    protected override string Kind => "MMIO";
}
