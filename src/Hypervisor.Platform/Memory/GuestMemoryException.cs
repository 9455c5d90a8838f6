namespace Hypervisor.Platform.Memory;

/// <summary>
/// A guest-physical access that falls outside guest RAM. Devices catch it and report a guest-visible error
/// (a descriptor error, NEEDS_RESET...); it never means host memory was touched.
/// </summary>
public sealed class GuestMemoryException(ulong address, ulong length, string reason)
    : Exception($"guest-physical access 0x{address:x}+0x{length:x}: {reason}")
{
    public ulong Address { get; } = address;
    public ulong Length { get; } = length;
}
