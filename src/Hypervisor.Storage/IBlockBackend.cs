namespace Hypervisor.Storage;

/// <summary>
/// A disk as a virtual block device sees it: a byte array of <see cref="SectorCount"/> 512-byte sectors. Offsets
/// and lengths are in bytes and the caller keeps them inside the disk. Every method may be called from any
/// thread concurrently and reports host I/O failures as <see cref="IOException"/>.
/// </summary>
public interface IBlockBackend : IDisposable
{
    const int SectorSize = 512;

    /// <summary>What the user called the disk (a path), for messages.</summary>
    string Name { get; }

    ulong SectorCount { get; }

    bool IsReadOnly { get; }

    /// <summary>Reads exactly <c>buffer.Length</c> bytes at <paramref name="offset"/>.</summary>
    void Read(long offset, Span<byte> buffer);

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>; it may sit in the host's cache until <see cref="Flush"/>.</summary>
    void Write(long offset, ReadOnlySpan<byte> data);

    /// <summary>Makes every completed write durable (fdatasync).</summary>
    void Flush();

    /// <summary>The range's contents are no longer needed; the backend may free the space. Reads after it are unspecified.</summary>
    void Discard(long offset, long length);

    /// <summary>The range reads back as zeroes; with <paramref name="mayUnmap"/> the space may be freed as well.</summary>
    void WriteZeroes(long offset, long length, bool mayUnmap);
}
