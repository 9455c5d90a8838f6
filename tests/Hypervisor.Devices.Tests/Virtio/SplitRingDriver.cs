using Hypervisor.Devices.Virtio;
using Hypervisor.Platform.Memory;

namespace Hypervisor.Devices.Tests.Virtio;

/// <summary>
/// The driver's side of one split ring in guest memory (VIRTIO 1.2, 2.7), written the way Linux's virtio_ring
/// does it: descriptors, then the avail ring entry, then avail idx. Tests build chains with it and read the
/// used ring back.
/// </summary>
internal sealed class SplitRingDriver
{
    public SplitRingDriver(GuestMemory memory, ulong baseAddress, ushort size)
    {
        Memory = memory;
        Size = size;
        DescriptorTable = baseAddress;
        DriverArea = baseAddress + 16UL * size;
        DeviceArea = (DriverArea + 6 + 2UL * size + 3) & ~3UL;
        ulong end = DeviceArea + 6 + 8UL * size;
        memory.Write(DescriptorTable, new byte[end - DescriptorTable]);
    }

    public GuestMemory Memory { get; }
    public ushort Size { get; }
    public ulong DescriptorTable { get; }
    public ulong DriverArea { get; }
    public ulong DeviceArea { get; }
    public ushort AvailIndex { get; set; }
    public ushort LastSeenUsed { get; set; }

    public ushort UsedIndex => Memory.Read<ushort>(DeviceArea + 2);
    public ushort AvailEvent => Memory.Read<ushort>(DeviceArea + 4 + 8UL * Size);

    public VirtQueue AttachTo(VirtQueue queue)
    {
        queue.Size = Size;
        queue.DescriptorTable = DescriptorTable;
        queue.DriverArea = DriverArea;
        queue.DeviceArea = DeviceArea;
        return queue;
    }

    public void SetDescriptor(ulong table, int index, ulong address, uint length, ushort flags, ushort next = 0)
    {
        ulong at = table + 16UL * (uint)index;
        Memory.Write(at, address);
        Memory.Write(at + 8, length);
        Memory.Write(at + 12, flags);
        Memory.Write(at + 14, next);
    }

    public void SetDescriptor(int index, ulong address, uint length, ushort flags, ushort next = 0) =>
        SetDescriptor(DescriptorTable, index, address, length, flags, next);

    /// <summary>
    /// Writes buffers as a chain starting at descriptor <paramref name="first"/> (consecutive indices) and makes
    /// it available. Each buffer: (address, length, writable).
    /// </summary>
    public ushort AddChain(int first, params (ulong Address, uint Length, bool Writable)[] buffers)
    {
        for (int i = 0; i < buffers.Length; i++)
        {
            var (address, length, writable) = buffers[i];
            bool last = i == buffers.Length - 1;
            ushort flags = (ushort)((writable ? VirtqDescriptor.FlagWrite : 0) | (last ? 0 : VirtqDescriptor.FlagNext));
            SetDescriptor((first + i) % Size, address, length, flags, (ushort)((first + i + 1) % Size));
        }
        Publish((ushort)first);
        return (ushort)first;
    }

    /// <summary>Puts <paramref name="head"/> in the next avail slot and bumps avail idx.</summary>
    public void Publish(ushort head)
    {
        Memory.Write(DriverArea + 4 + 2UL * (uint)(AvailIndex % Size), head);
        AvailIndex++;
        Memory.Write(DriverArea + 2, AvailIndex);
    }

    public void SetAvailIndex(ushort index)
    {
        AvailIndex = index;
        Memory.Write(DriverArea + 2, index);
    }

    public void SetNoInterrupt(bool on) => Memory.Write(DriverArea, (ushort)(on ? 1 : 0));

    public void SetUsedEvent(ushort value) => Memory.Write(DriverArea + 4 + 2UL * Size, value);

    public (uint Id, uint Length) Used(ushort index)
    {
        ulong at = DeviceArea + 4 + 8UL * (uint)(index % Size);
        return (Memory.Read<uint>(at), Memory.Read<uint>(at + 4));
    }

    /// <summary>The used elements added since the last call.</summary>
    public List<(uint Id, uint Length)> TakeUsed()
    {
        var list = new List<(uint, uint)>();
        for (ushort used = UsedIndex; LastSeenUsed != used; LastSeenUsed++) list.Add(Used(LastSeenUsed));
        return list;
    }
}
