using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Hypervisor.BinaryTranslation.Backend;

/// <summary>
/// A sampling profile of where guest time goes (HV_BT_PROFILE=1, or the path of the guest kernel's System.map
/// to name functions): every millisecond it records each vCPU's code address, or that it is halted or waiting
/// for the execution lock, and prints the hottest functions when the VM ends. Off the vCPU threads; the
/// samples are racy reads of RIP, which is all a profile needs.
/// </summary>
internal sealed class BtProfiler : IDisposable
{
    private readonly Func<IReadOnlyList<BtVcpu?>> _vcpus;
    private readonly TextWriter _output;
    private readonly SymbolMap? _symbols;
    private readonly Dictionary<ulong, long> _hits = [];
    private readonly Thread _thread;
    private readonly Stopwatch _elapsed = Stopwatch.StartNew();
    private volatile bool _stop;
    private long _halted, _waiting, _total;

    public BtProfiler(Func<IReadOnlyList<BtVcpu?>> vcpus, string? systemMap, TextWriter output)
    {
        _vcpus = vcpus;
        _output = output;
        if (systemMap is not null && File.Exists(systemMap)) _symbols = SymbolMap.Load(systemMap);
        _thread = new Thread(Sample) { IsBackground = true, Name = "hv-bt-profiler" };
        _thread.Start();
    }

    private void Sample()
    {
        while (!_stop)
        {
            Thread.Sleep(1);
            lock (_hits)
            {
                foreach (var v in _vcpus())
                {
                    if (v is null || !v.IsRunning) continue;
                    _total++;
                    if (v.IsHaltedForProfile) _halted++;
                    else if (v.IsWaitingForTurn) _waiting++;
                    else
                    {
                        ulong key = _symbols?.FunctionOf(v.CodeAddressForProfile) ?? v.CodeAddressForProfile & ~0xFFFUL;
                        _hits[key] = _hits.GetValueOrDefault(key) + 1;
                    }
                }
            }
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
        var b = new StringBuilder();
        lock (_hits)
        {
            if (_total == 0) return;
            long running = _total - _halted - _waiting;
            b.AppendLine(CultureInfo.InvariantCulture,
                $"hv-bt profile: {_elapsed.Elapsed.TotalSeconds:F1} s, {_total} vCPU samples: running {Percent(running)}, " +
                $"halted {Percent(_halted)}, waiting for the execution lock {Percent(_waiting)}");
            foreach (var (address, count) in _hits.OrderByDescending(h => h.Value).Take(30))
            {
                string name = _symbols?.Name(address) ?? $"page 0x{address:x}";
                b.AppendLine(CultureInfo.InvariantCulture, $"  {100.0 * count / running,5:F1}%  {name}");
            }
        }
        lock (_output) _output.Write(b.ToString());
    }

    private string Percent(long n) => string.Create(CultureInfo.InvariantCulture, $"{100.0 * n / _total:F1}%");

    /// <summary>A kernel's System.map: text symbols sorted by address.</summary>
    private sealed class SymbolMap
    {
        private readonly ulong[] _addresses;
        private readonly string[] _names;

        private SymbolMap(ulong[] addresses, string[] names)
        {
            _addresses = addresses;
            _names = names;
        }

        public static SymbolMap Load(string path)
        {
            var entries = new List<(ulong, string)>();
            foreach (var line in File.ReadLines(path))
            {
                var parts = line.Split(' ');
                if (parts.Length < 3 || parts[1] is not ("T" or "t")) continue;
                if (ulong.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong a))
                    entries.Add((a, parts[2]));
            }
            entries.Sort((x, y) => x.Item1.CompareTo(y.Item1));
            return new SymbolMap([.. entries.Select(e => e.Item1)], [.. entries.Select(e => e.Item2)]);
        }

        public ulong? FunctionOf(ulong address)
        {
            int i = Array.BinarySearch(_addresses, address);
            if (i < 0) i = ~i - 1;
            return i >= 0 ? _addresses[i] : null;
        }

        public string Name(ulong address)
        {
            int i = Array.BinarySearch(_addresses, address);
            return i >= 0 ? _names[i] : $"0x{address:x}";
        }
    }
}
