using Hypervisor.Boot.E820;
using Hypervisor.Boot.Linux;
using Hypervisor.Boot.Multiboot;
using Hypervisor.Boot.Tests.Linux;
using Hypervisor.Boot.Tests.Multiboot;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Boot.Tests.Fuzz;

/// <summary>
/// A kernel file is user input: corrupted images must end in a <see cref="BootImageException"/> (a clear
/// message) or a successful load, never in any other exception (TESTING.md, "Adversarial input").
/// </summary>
public sealed class LoaderFuzzTests : IDisposable
{
    private const int Iterations = 3000;
    private readonly GuestMemory _memory = GuestMemory.CreatePc(64 << 20);
    private readonly E820Map _map;

    public LoaderFuzzTests() => _map = E820Map.CreatePc(_memory);

    public void Dispose() => _memory.Dispose();

    [Fact]
    public void Corrupted_bzimage_headers_are_rejected_cleanly()
    {
        byte[] original = new SyntheticBzImage(KernelSize: 0x1000, InitSize: 0x10_0000).Build();
        var random = new Random(1234);
        int loaded = 0;
        for (int i = 0; i < Iterations; i++)
        {
            byte[] file = Mutate(original, random, 0x1F0, 0x270);
            if (random.Next(8) == 0) file = file[..random.Next(file.Length)];
            if (Survives(() =>
                {
                    var image = BzImage.Parse(file, "fuzz");
                    BzImageLoader.Load(_memory, image, new LinuxBootOptions
                    {
                        MemoryMap = _map,
                        Entry = random.Next(2) == 0 ? LinuxEntryMode.LongMode64 : LinuxEntryMode.ProtectedMode32,
                        Initrd = new BootFile("initrd", new byte[random.Next(0, 1 << 20)]),
                    });
                })) loaded++;
        }
        Assert.InRange(loaded, 1, Iterations - 1);
    }

    [Fact]
    public void Corrupted_multiboot_elf_files_are_rejected_cleanly()
    {
        using var kernel = TestKernel.Build();
        byte[] original = kernel.Bytes;
        var random = new Random(5678);
        int loaded = 0;
        for (int i = 0; i < Iterations; i++)
        {
            // The ELF header, program headers and the multiboot header all sit in the first page.
            byte[] file = Mutate(original, random, 0, 0x1100);
            if (random.Next(8) == 0) file = file[..random.Next(file.Length)];
            if (Survives(() => MultibootLoader.Load(_memory, MultibootImage.Parse(file, "fuzz"), _map))) loaded++;
        }
        Assert.InRange(loaded, 1, Iterations - 1);
    }

    private static byte[] Mutate(byte[] original, Random random, int from, int to)
    {
        byte[] file = (byte[])original.Clone();
        int count = random.Next(1, 6);
        for (int m = 0; m < count; m++)
        {
            int at = random.Next(from, Math.Min(to, file.Length));
            file[at] = random.Next(3) switch
            {
                0 => (byte)random.Next(256),
                1 => (byte)(file[at] ^ (1 << random.Next(8))),
                _ => random.Next(2) == 0 ? (byte)0 : (byte)0xFF,
            };
        }
        return file;
    }

    /// <returns>True when the image loaded, false when it was refused with a BootImageException.</returns>
    private static bool Survives(Action load)
    {
        try
        {
            load();
            return true;
        }
        catch (BootImageException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
            return false;
        }
    }
}
