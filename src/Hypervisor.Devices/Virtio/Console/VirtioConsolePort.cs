using Hypervisor.Devices.Console;

namespace Hypervisor.Devices.Virtio.Console;

/// <summary>A named extra port of a multiport virtio-console, with the host end it connects to.</summary>
public sealed record VirtioConsolePortSpec(string Name, ICharacterBackend Backend);

/// <summary>One port's device-side state: its backend, host input waiting for guest buffers, whether the guest has it open.</summary>
internal sealed class VirtioConsolePort(int id, string? name, ICharacterBackend backend)
{
    public int Id { get; } = id;
    public string? Name { get; } = name;
    public ICharacterBackend Backend { get; } = backend;
    public byte[] Pending { get; } = new byte[VirtioConsole.MaxPendingInput];
    public int PendingLength;
    public long DroppedInputBytes;

    /// <summary>The driver sent PORT_OPEN 1 (a process opened /dev/vportNpM); port 0 counts as always open.</summary>
    public bool GuestOpen;
}
