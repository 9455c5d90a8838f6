using System.Runtime.InteropServices;

namespace Hypervisor.Devices.Virtio;

/// <summary>One entry of a split virtqueue's descriptor table, as the driver lays it out (VIRTIO 1.2, 2.7.5).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public readonly struct VirtqDescriptor
{
    public const int Size = 16;

    /// <summary>The buffer continues in the descriptor named by <see cref="Next"/>.</summary>
    public const ushort FlagNext = 1;

    /// <summary>The buffer is device-writable (otherwise device-readable).</summary>
    public const ushort FlagWrite = 2;

    /// <summary>The buffer holds a table of descriptors (2.7.5.3).</summary>
    public const ushort FlagIndirect = 4;

    public readonly ulong Address;
    public readonly uint Length;
    public readonly ushort Flags;
    public readonly ushort Next;

    public VirtqDescriptor(ulong address, uint length, ushort flags, ushort next)
    {
        Address = address;
        Length = length;
        Flags = flags;
        Next = next;
    }

    public bool IsWritable => (Flags & FlagWrite) != 0;
    public bool HasNext => (Flags & FlagNext) != 0;
    public bool IsIndirect => (Flags & FlagIndirect) != 0;
}
