using System.Buffers.Binary;
using Hypervisor.Boot.Linux;
using Hypervisor.Boot.Multiboot;

namespace Hypervisor.Boot;

public enum KernelFormat
{
    /// <summary>A Linux bzImage (setup header with "HdrS").</summary>
    BzImage,

    /// <summary>A multiboot v1 kernel (ELF or a.out-kludge binary).</summary>
    Multiboot,
}

public static class KernelFormats
{
    /// <summary>
    /// Tells a bzImage from a multiboot kernel the way QEMU's -kernel does: the Linux setup header wins, and only
    /// a file without one is looked at as multiboot.
    /// </summary>
    public static KernelFormat Identify(ReadOnlySpan<byte> file, string name)
    {
        if (file.Length >= SetupHeader.Header + 4
            && BinaryPrimitives.ReadUInt32LittleEndian(file[SetupHeader.Header..]) == SetupHeader.HeaderMagic)
            return KernelFormat.BzImage;
        if (MultibootImage.IsMultiboot(file)) return KernelFormat.Multiboot;
        throw new BootImageException(name, "not a Linux bzImage or a multiboot kernel");
    }
}
