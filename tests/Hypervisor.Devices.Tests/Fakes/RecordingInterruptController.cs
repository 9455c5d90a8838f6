using Hypervisor.Platform.Interrupts;

namespace Hypervisor.Devices.Tests.Fakes;

/// <summary>An interrupt controller that records every line change and MSI, for device tests.</summary>
public sealed class RecordingInterruptController : IInterruptController
{
    private readonly object _lock = new();
    private readonly Dictionary<int, bool> _levels = [];
    private readonly List<(int Gsi, bool Level)> _changes = [];
    private readonly List<(ulong Address, uint Data)> _msis = [];

    /// <summary>Every SetIrq call in order, including ones that did not change the level.</summary>
    public IReadOnlyList<(int Gsi, bool Level)> Calls
    {
        get
        {
            lock (_lock) return [.. _changes];
        }
    }

    public IReadOnlyList<(ulong Address, uint Data)> Msis
    {
        get
        {
            lock (_lock) return [.. _msis];
        }
    }

    public void SetIrq(int gsi, bool level)
    {
        lock (_lock)
        {
            _levels[gsi] = level;
            _changes.Add((gsi, level));
        }
    }

    public void SendMsi(ulong address, uint data)
    {
        lock (_lock) _msis.Add((address, data));
    }

    /// <summary>Current level of a line (false if never driven).</summary>
    public bool Level(int gsi)
    {
        lock (_lock) return _levels.TryGetValue(gsi, out bool level) && level;
    }

    /// <summary>Number of low-to-high transitions seen on a line (what an edge-triggered PIC input latches).</summary>
    public int RisingEdges(int gsi)
    {
        lock (_lock)
        {
            int edges = 0;
            bool previous = false;
            foreach (var (g, level) in _changes)
            {
                if (g != gsi) continue;
                if (level && !previous) edges++;
                previous = level;
            }
            return edges;
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _changes.Clear();
            _msis.Clear();
        }
    }
}
