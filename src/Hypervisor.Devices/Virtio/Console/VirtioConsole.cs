using System.Buffers.Binary;
using System.Text;
using Hypervisor.Devices.Console;
using Hypervisor.Platform.Memory;
using static Hypervisor.Devices.Virtio.Console.VirtioConsoleControl;

namespace Hypervisor.Devices.Virtio.Console;

/// <summary>
/// virtio-console (VIRTIO 1.2, 5.3). Port 0 is the console (Linux's /dev/hvc0) on receiveq 0 / transmitq 1.
/// With extra ports the device offers VIRTIO_CONSOLE_F_MULTIPORT: the driver announces DEVICE_READY on the
/// control queues, the device adds every port (DEVICE_ADD), marks port 0 as the console (CONSOLE_PORT), names the
/// others (PORT_NAME, Linux's /sys/class/virtio-ports/vportNpM/name) and reports the host side open (PORT_OPEN).
/// Host input for an extra port is delivered only while the guest has it open (PORT_OPEN 1 from the driver).
/// Host input that arrives while the guest has no buffer posted waits in a bounded per-port buffer (the backend has
/// no flow control); beyond <see cref="MaxPendingInput"/> bytes it is dropped, as a UART's overrun would. Guest
/// output is written to the backend outside the device lock, as the backend requires.
/// </summary>
public sealed class VirtioConsole : VirtioDevice
{
    public const ushort DefaultQueueSize = 128;
    public const int MaxPendingInput = 64 * 1024;
    public const int ReceiveQueue = 0;
    public const int TransmitQueue = 1;

    /// <summary>Linux's limit on a PORT_NAME message it reads (the rest of a control buffer is the name).</summary>
    public const int MaxNameLength = 255;

    private const int TransmitChunk = 4096;

    private readonly VirtioConsolePort[] _ports;
    private readonly bool _multiport;
    private readonly Queue<byte[]> _control = new();
    private readonly byte[] _transmit = new byte[TransmitChunk];
    private readonly object _transmitLock = new();
    private int _generation;

    public VirtioConsole(GuestMemory memory, ICharacterBackend backend, ushort queueSize = DefaultQueueSize)
        : this(memory, backend, [], queueSize)
    {
    }

    /// <param name="extraPorts">Ports 1, 2, ... in order; none means a single-port device without control queues.</param>
    public VirtioConsole(GuestMemory memory, ICharacterBackend backend, IReadOnlyList<VirtioConsolePortSpec> extraPorts,
        ushort queueSize = DefaultQueueSize)
        : base(VirtioDeviceType.Console, memory, extraPorts.Count == 0 ? 2 : 4 + 2 * extraPorts.Count, queueSize)
    {
        foreach (var spec in extraPorts)
            if (spec.Name.Length == 0 || Encoding.UTF8.GetByteCount(spec.Name) > MaxNameLength)
                throw new ArgumentException($"console port name '{spec.Name}' must be 1 to {MaxNameLength} bytes", nameof(extraPorts));
        _multiport = extraPorts.Count > 0;
        _ports = new VirtioConsolePort[1 + extraPorts.Count];
        _ports[0] = new VirtioConsolePort(0, null, backend);
        for (int i = 0; i < extraPorts.Count; i++) _ports[i + 1] = new VirtioConsolePort(i + 1, extraPorts[i].Name, extraPorts[i].Backend);
    }

    public int PortCount => _ports.Length;

    /// <summary>Host bytes dropped on port 0 because the guest did not take them in time.</summary>
    public long DroppedInputBytes => _ports[0].DroppedInputBytes;

    public long DroppedInputBytesOf(int port) => _ports[port].DroppedInputBytes;

    /// <summary>Whether the guest has port <paramref name="port"/> open (PORT_OPEN 1).</summary>
    public bool IsGuestOpen(int port)
    {
        lock (SyncRoot) return _ports[port].GuestOpen;
    }

    protected override ulong DeviceFeatures => _multiport ? FeatureMultiport : 0;

    /// <summary>struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr (5.3.4).</summary>
    public override int ConfigSize => 12;

    public override void ReadConfig(int offset, Span<byte> data)
    {
        Span<byte> config = stackalloc byte[12];
        config.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(config[4..], (uint)_ports.Length);
        data.Clear();
        if (offset < config.Length) config[offset..Math.Min(config.Length, offset + data.Length)].CopyTo(data);
    }

    /// <summary>Host input flows from the moment a transport carries the device.</summary>
    protected override void OnAttached()
    {
        foreach (var port in _ports)
        {
            var p = port;
            p.Backend.SetReceiver(data => OnHostInput(p, data));
        }
    }

    public override void Dispose()
    {
        foreach (var port in _ports) port.Backend.SetReceiver(null);
        base.Dispose();
    }

    protected override void OnReset()
    {
        _generation++;
        _control.Clear();
        foreach (var port in _ports) port.GuestOpen = false;
    }

    private bool Multiport => _multiport && HasFeature(FeatureMultiport);

    protected override void OnQueueNotified(VirtQueue queue)
    {
        int index = queue.Index;
        if (index is ControlReceiveQueue or ControlTransmitQueue)
        {
            lock (SyncRoot)
            {
                if (!Multiport) return;
                if (index == ControlTransmitQueue) HandleControl(queue);
                FlushControl();
            }
            return;
        }
        int port = index < 2 ? 0 : index / 2 - 1;
        if (port >= _ports.Length) return;
        if ((index & 1) == 0)
        {
            lock (SyncRoot) DeliverPending(_ports[port]);
        }
        else
        {
            Transmit(_ports[port], queue);
        }
    }

    private void OnHostInput(VirtioConsolePort port, ReadOnlySpan<byte> data)
    {
        try
        {
            lock (SyncRoot)
            {
                int room = port.Pending.Length - port.PendingLength;
                int taken = Math.Min(room, data.Length);
                data[..taken].CopyTo(port.Pending.AsSpan(port.PendingLength));
                port.PendingLength += taken;
                port.DroppedInputBytes += data.Length - taken;
                DeliverPending(port);
            }
        }
        catch (GuestMemoryException e)
        {
            lock (SyncRoot) Fail(Queues[ReceiveQueueOf(port.Id)], e.Message);
        }
    }

    /// <summary>Fills posted receive buffers of <paramref name="port"/> with waiting input (5.3.6.1). Under the lock.</summary>
    private void DeliverPending(VirtioConsolePort port)
    {
        // Linux discards data for a generic port nobody has open (virtio_console.c in_intr), so input for port
        // 1 and up waits here for PORT_OPEN 1, as QEMU holds it until guest_connected.
        if (port.Id != 0 && (!Multiport || !port.GuestOpen)) return;
        var queue = Queues[ReceiveQueueOf(port.Id)];
        bool completed = false;
        while (port.PendingLength > 0 && Pop(queue, out var chain) == VirtQueuePopResult.Chain)
        {
            int n = chain.Write(0, port.Pending.AsSpan(0, port.PendingLength));
            port.Pending.AsSpan(n, port.PendingLength - n).CopyTo(port.Pending);
            port.PendingLength -= n;
            Complete(queue, chain.Head, (uint)n);
            completed = true;
        }
        if (completed) SignalIfNeeded(queue);
    }

    /// <summary>Messages from the driver on control transmitq (5.3.6.2.1). Under the lock.</summary>
    private void HandleControl(VirtQueue queue)
    {
        Span<byte> message = stackalloc byte[MessageSize];
        bool completed = false;
        while (Pop(queue, out var chain) == VirtQueuePopResult.Chain)
        {
            int n = chain.Read(0, message);
            Complete(queue, chain.Head, 0);
            completed = true;
            if (n < MessageSize) continue; // a malformed message is ignored, as Linux ignores ours
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(message);
            ushort ev = BinaryPrimitives.ReadUInt16LittleEndian(message[4..]);
            ushort value = BinaryPrimitives.ReadUInt16LittleEndian(message[6..]);
            switch (ev)
            {
                case DeviceReady when value == 1:
                    foreach (var port in _ports) Send((uint)port.Id, DeviceAdd, 1);
                    break;
                case PortReady when value == 1 && id < (uint)_ports.Length:
                    var ready = _ports[id];
                    if (ready.Id == 0) Send(0, ConsolePort, 1);
                    if (ready.Name is not null) Send(id, PortName, 1, ready.Name);
                    // The host end of every hv port is always connected.
                    Send(id, PortOpen, 1);
                    break;
                case PortOpen when id < (uint)_ports.Length:
                    _ports[id].GuestOpen = value != 0;
                    if (value != 0) DeliverPending(_ports[id]);
                    break;
            }
        }
        if (completed) SignalIfNeeded(queue);
    }

    private void Send(uint id, ushort ev, ushort value, string? name = null)
    {
        int nameLength = name is null ? 0 : Encoding.UTF8.GetByteCount(name);
        var message = new byte[MessageSize + nameLength];
        BinaryPrimitives.WriteUInt32LittleEndian(message, id);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), ev);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), value);
        if (name is not null) Encoding.UTF8.GetBytes(name, message.AsSpan(MessageSize));
        _control.Enqueue(message);
    }

    /// <summary>Puts queued control messages into control receiveq buffers, one per buffer. Under the lock.</summary>
    private void FlushControl()
    {
        var queue = Queues[ControlReceiveQueue];
        bool completed = false;
        while (_control.Count > 0 && Pop(queue, out var chain) == VirtQueuePopResult.Chain)
        {
            var message = _control.Dequeue();
            int n = chain.Write(0, message);
            Complete(queue, chain.Head, (uint)n);
            completed = true;
        }
        if (completed) SignalIfNeeded(queue);
    }

    /// <summary>
    /// Sends every posted transmit buffer of <paramref name="port"/> to its backend (5.3.6.2). The transmit lock
    /// keeps the chain buffer to one thread while the device lock is released around the backend writes.
    /// </summary>
    private void Transmit(VirtioConsolePort port, VirtQueue queue)
    {
        lock (_transmitLock)
        {
            while (true)
            {
                DescriptorChain chain;
                int generation;
                lock (SyncRoot)
                {
                    if (port.Id != 0 && !Multiport) return;
                    if (Pop(queue, out chain) != VirtQueuePopResult.Chain) return;
                    generation = _generation;
                }
                for (long offset = 0; offset < chain.ReadableLength;)
                {
                    int n = chain.Read(offset, _transmit);
                    port.Backend.Write(_transmit.AsSpan(0, n));
                    offset += n;
                }
                lock (SyncRoot)
                {
                    if (generation != _generation) return;
                    Complete(queue, chain.Head, 0);
                    SignalIfNeeded(queue);
                }
            }
        }
    }
}
