using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Decoding;

/// <summary>
/// Feeds Iced the bytes of one code page and, only when an instruction actually spills over, of the next one.
/// The second page is translated lazily because fetching it may fault (#PF), which is the guest's business only
/// if the instruction that needs those bytes is executed.
/// </summary>
internal sealed unsafe class GuestCodeReader : CodeReader
{
    private byte* _first;
    private int _firstLength;
    private byte* _second;
    private int _secondLength;

    public int Position;

    /// <summary>Resolves the next page on first use; returns null when it cannot be fetched.</summary>
    public Func<IntPtr>? ResolveSecond;

    public bool SecondUsed { get; private set; }

    public void Reset(byte* first, int firstLength)
    {
        _first = first;
        _firstLength = firstLength;
        _second = null;
        _secondLength = 0;
        SecondUsed = false;
        Position = 0;
    }

    public override int ReadByte()
    {
        int p = Position;
        if (p < _firstLength)
        {
            Position = p + 1;
            return _first[p];
        }
        if (_second == null)
        {
            if (SecondUsed) return -1;
            SecondUsed = true;
            var s = ResolveSecond?.Invoke() ?? IntPtr.Zero;
            if (s == IntPtr.Zero) return -1;
            _second = (byte*)s;
            _secondLength = 15;
        }
        int q = p - _firstLength;
        if (q >= _secondLength) return -1;
        Position = p + 1;
        return _second[q];
    }
}
