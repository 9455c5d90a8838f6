namespace Hypervisor.Boot;

/// <summary>A file handed to the guest as is (an initrd, a multiboot module), with the name errors refer to.</summary>
public sealed record BootFile(string Name, byte[] Data)
{
    public static BootFile Read(string path)
    {
        try
        {
            return new BootFile(path, File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BootImageException(path, $"cannot read: {e.Message}");
        }
    }
}
