using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Hypervisor.Storage;

/// <summary>
/// A raw disk image: a regular file or a host block device whose bytes are the disk's. Reads and writes are
/// pread/pwrite at the guest's offsets (no shared file position, so any thread may issue them), flush is
/// fdatasync, discard punches a hole and write-zeroes uses fallocate's zero range, falling back to writing
/// zeroes where the file system or device cannot.
/// </summary>
public sealed class RawFileBackend : IBlockBackend
{
    private const int ZeroChunk = 1 << 20;
    private static readonly byte[] Zeroes = new byte[ZeroChunk];

    private readonly SafeFileHandle _handle;

    private RawFileBackend(string path, SafeFileHandle handle, ulong sectors, bool readOnly)
    {
        Name = path;
        _handle = handle;
        SectorCount = sectors;
        IsReadOnly = readOnly;
    }

    public string Name { get; }
    public ulong SectorCount { get; }
    public bool IsReadOnly { get; }
    public long Length => (long)SectorCount * IBlockBackend.SectorSize;

    /// <summary>
    /// Opens <paramref name="path"/>; throws <see cref="BlockBackendException"/> with a message for the user when
    /// it is missing, cannot be opened as asked, or its size is not a non-zero multiple of 512 bytes.
    /// </summary>
    public static RawFileBackend Open(string path, bool readOnly = false)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite,
                readOnly ? FileShare.ReadWrite : FileShare.Read);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new BlockBackendException($"disk image '{path}' does not exist", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new BlockBackendException(
                $"disk image '{path}' cannot be opened for {(readOnly ? "reading" : "reading and writing")} " +
                $"(permission denied{(readOnly ? "" : "; use a read-only disk to boot from an image you cannot write")})", e);
        }
        catch (IOException e)
        {
            throw new BlockBackendException($"disk image '{path}' cannot be opened: {e.Message}", e);
        }

        try
        {
            // lseek to the end gives the size of block devices too, where fstat reports 0.
            long size = FileNative.lseek(handle, 0, FileNative.SeekEnd);
            if (size < 0) throw new BlockBackendException($"disk image '{path}': {FileNative.Error("lseek", path).Message}");
            if (size == 0) throw new BlockBackendException($"disk image '{path}' is empty");
            if (size % IBlockBackend.SectorSize != 0)
                throw new BlockBackendException(
                    $"disk image '{path}' is {size} bytes, not a multiple of {IBlockBackend.SectorSize}-byte sectors");
            return new RawFileBackend(path, handle, (ulong)size / IBlockBackend.SectorSize, readOnly);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public void Read(long offset, Span<byte> buffer)
    {
        CheckRange(offset, buffer.Length);
        while (!buffer.IsEmpty)
        {
            int read = RandomAccess.Read(_handle, buffer, offset);
            if (read == 0) throw new IOException($"'{Name}' ended at {offset} while reading (was it truncated?)");
            buffer = buffer[read..];
            offset += read;
        }
    }

    public void Write(long offset, ReadOnlySpan<byte> data)
    {
        CheckWritable();
        CheckRange(offset, data.Length);
        RandomAccess.Write(_handle, data, offset);
    }

    public void Flush()
    {
        if (IsReadOnly) return;
        if (FileNative.fdatasync(_handle) != 0) throw FileNative.Error("fdatasync", Name);
    }

    /// <summary>A hint: where the host cannot punch holes the data simply stays (5.2.6.2 lets discard do nothing).</summary>
    public void Discard(long offset, long length)
    {
        CheckWritable();
        CheckRange(offset, length);
        if (length == 0) return;
        if (FileNative.fallocate(_handle, FileNative.FallocPunchHole | FileNative.FallocKeepSize, offset, length) == 0) return;
        if (!IsUnsupported(Marshal.GetLastPInvokeError())) throw FileNative.Error("fallocate(PUNCH_HOLE)", Name);
    }

    public void WriteZeroes(long offset, long length, bool mayUnmap)
    {
        CheckWritable();
        CheckRange(offset, length);
        if (length == 0) return;
        // A punched hole reads back as zeroes, so it serves when unmapping is allowed.
        int mode = mayUnmap ? FileNative.FallocPunchHole | FileNative.FallocKeepSize : FileNative.FallocZeroRange | FileNative.FallocKeepSize;
        if (FileNative.fallocate(_handle, mode, offset, length) == 0) return;
        if (!IsUnsupported(Marshal.GetLastPInvokeError())) throw FileNative.Error("fallocate", Name);
        for (long done = 0; done < length;)
        {
            int piece = (int)Math.Min(ZeroChunk, length - done);
            RandomAccess.Write(_handle, Zeroes.AsSpan(0, piece), offset + done);
            done += piece;
        }
    }

    public void Dispose() => _handle.Dispose();

    private static bool IsUnsupported(int errno) =>
        errno is FileNative.EOPNOTSUPP or FileNative.ENOSYS or FileNative.EINVAL;

    private void CheckWritable()
    {
        if (IsReadOnly) throw new IOException($"'{Name}' is read-only");
    }

    private void CheckRange(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length || length > Length - offset)
            throw new IOException($"access at {offset}+{length} outside '{Name}' ({Length} bytes)");
    }
}
