using Hypervisor.BinaryTranslation.Instructions;

namespace Hypervisor.BinaryTranslation.Decoding;

/// <summary>
/// Decoded blocks keyed by (guest-physical address of the first byte, CPU mode key), with the list of blocks on
/// every code page so a write to the page can drop them. A linear-address jump cache in front of it (QEMU's
/// tb_jmp_cache) is tied to the translation generation, so a TLB flush or mode change makes it miss.
/// </summary>
public sealed unsafe class BlockCache
{
    private readonly Dictionary<(ulong Physical, uint Mode), Block> _blocks = new();
    private readonly Dictionary<ulong, List<Block>> _pages = new();

    private const int JumpCacheSize = 4096;
    private readonly JumpEntry[] _jump = new JumpEntry[JumpCacheSize];

    private struct JumpEntry
    {
        public ulong Linear;
        public uint Mode;
        public uint Generation;
        public Block? Block;
    }

    public int Count => _blocks.Count;

    /// <summary>Blocks dropped because their code was written.</summary>
    public long Invalidations { get; private set; }

    public Block? FindByLinear(ulong linear, uint mode, uint generation)
    {
        ref var e = ref _jump[(int)(linear >> 1) & (JumpCacheSize - 1)];
        if (e.Linear == linear && e.Mode == mode && e.Generation == generation && e.Block is { Valid: true } b) return b;
        return null;
    }

    public void RememberLinear(ulong linear, uint mode, uint generation, Block block)
    {
        ref var e = ref _jump[(int)(linear >> 1) & (JumpCacheSize - 1)];
        e.Linear = linear;
        e.Mode = mode;
        e.Generation = generation;
        e.Block = block;
    }

    /// <summary>
    /// The block decoded at a physical address in a mode. A block whose first instruction spills into a second
    /// page is only valid while the next linear page still maps to <see cref="Block.SecondPage"/>: the caller checks.
    /// </summary>
    public Block? Find(ulong physical, uint mode) => _blocks.GetValueOrDefault((physical, mode));

    public void Add(Block block)
    {
        _blocks[(block.Physical, block.ModeKey)] = block;
        AddToPage(block.Physical & ~0xFFFUL, block);
        if (block.SecondPage != Block.NoPage) AddToPage(block.SecondPage, block);
    }

    private void AddToPage(ulong page, Block block)
    {
        if (!_pages.TryGetValue(page, out var list)) _pages[page] = list = new List<Block>();
        list.Add(block);
    }

    /// <summary>
    /// Drops every block on a physical page. Their ops are redirected to <see cref="ControlFlow.StaleBlock"/>, so
    /// a block that is executing right now (the store that got here came from it) stops after the current
    /// instruction and the loop decodes the new bytes.
    /// </summary>
    public void InvalidatePage(ulong page)
    {
        if (!_pages.Remove(page, out var list)) return;
        foreach (var b in list)
        {
            if (!b.Valid) continue;
            b.Valid = false;
            Invalidations++;
            var ops = b.Ops;
            for (int i = 0; i < ops.Length; i++) ops[i].Handler = &ControlFlow.StaleBlock;
            if (_blocks.TryGetValue((b.Physical, b.ModeKey), out var current) && current == b)
                _blocks.Remove((b.Physical, b.ModeKey));
        }
    }

    public void Clear()
    {
        foreach (var page in _pages.Keys.ToList()) InvalidatePage(page);
        Array.Clear(_jump);
    }
}
