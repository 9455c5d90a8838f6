using Hypervisor.Storage;

namespace Hypervisor.Storage.Tests;

public sealed class RawFileBackendTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("hv-storage-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Image(int bytes, byte fill = 0x5A)
    {
        string path = Path.Combine(_directory, $"disk-{Guid.NewGuid():N}.img");
        File.WriteAllBytes(path, Enumerable.Repeat(fill, bytes).ToArray());
        return path;
    }

    [Fact]
    public void SizeIsCountedInSectors()
    {
        using var disk = RawFileBackend.Open(Image(8192));
        Assert.Equal(16ul, disk.SectorCount);
        Assert.False(disk.IsReadOnly);
    }

    [Fact]
    public void MissingFileIsAClearError()
    {
        string path = Path.Combine(_directory, "nope.img");
        var e = Assert.Throws<BlockBackendException>(() => RawFileBackend.Open(path));
        Assert.Contains("does not exist", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(513)]
    public void SizeNotAMultipleOf512IsAClearError(int bytes)
    {
        var e = Assert.Throws<BlockBackendException>(() => RawFileBackend.Open(Image(bytes)));
        Assert.Contains("not a multiple of 512", e.Message);
        Assert.Contains(bytes.ToString(), e.Message);
    }

    [Fact]
    public void EmptyFileIsAClearError() =>
        Assert.Contains("empty", Assert.Throws<BlockBackendException>(() => RawFileBackend.Open(Image(0))).Message);

    [Fact]
    public void DirectoryIsAClearError() =>
        Assert.Throws<BlockBackendException>(() => RawFileBackend.Open(_directory));

    [Fact]
    public void WritesAreReadBackAndReachTheFile()
    {
        string path = Image(4096);
        using (var disk = RawFileBackend.Open(path))
        {
            disk.Write(1000, "guest data"u8);
            disk.Flush();
            var back = new byte[10];
            disk.Read(1000, back);
            Assert.Equal("guest data"u8, back);
        }
        Assert.Equal("guest data"u8, File.ReadAllBytes(path).AsSpan(1000, 10));
    }

    [Fact]
    public void AccessesOutsideTheDiskAreIoErrors()
    {
        using var disk = RawFileBackend.Open(Image(1024));
        Assert.Throws<IOException>(() => disk.Read(1020, new byte[8]));
        Assert.Throws<IOException>(() => disk.Write(-1, new byte[1]));
        Assert.Throws<IOException>(() => disk.WriteZeroes(512, long.MaxValue, false));
    }

    [Fact]
    public void ReadOnlyDiskRefusesEveryWrite()
    {
        string path = Image(1024);
        using var disk = RawFileBackend.Open(path, readOnly: true);
        Assert.True(disk.IsReadOnly);
        Assert.Throws<IOException>(() => disk.Write(0, new byte[1]));
        Assert.Throws<IOException>(() => disk.Discard(0, 512));
        Assert.Throws<IOException>(() => disk.WriteZeroes(0, 512, true));
        disk.Flush();
        Assert.All(File.ReadAllBytes(path), b => Assert.Equal(0x5A, b));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WriteZeroesReadsBackAsZeroes(bool mayUnmap)
    {
        string path = Image(3 << 20);
        using var disk = RawFileBackend.Open(path);
        disk.WriteZeroes(4096, 2 << 20, mayUnmap);
        var data = new byte[3 << 20];
        disk.Read(0, data);
        Assert.All(data.AsSpan(0, 4096).ToArray(), b => Assert.Equal(0x5A, b));
        Assert.True(data.AsSpan(4096, 2 << 20).IndexOfAnyExcept((byte)0) < 0);
        Assert.All(data.AsSpan(4096 + (2 << 20)).ToArray(), b => Assert.Equal(0x5A, b));
    }

    [Fact]
    public void DiscardKeepsTheSizeAndTheDataAroundIt()
    {
        string path = Image(16384);
        using var disk = RawFileBackend.Open(path);
        disk.Discard(4096, 4096);
        Assert.Equal(16384, new FileInfo(path).Length);
        var data = new byte[16384];
        disk.Read(0, data);
        Assert.Equal(0x5A, data[4095]);
        Assert.Equal(0x5A, data[8192]);
    }
}
