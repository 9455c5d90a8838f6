using Hypervisor.Platform.Native;
using Tmds.Linux;

namespace Hypervisor.Kvm;

/// <summary>A Linux eventfd (non-blocking, close-on-exec): a 64-bit counter one side adds to and the other drains.</summary>
public sealed unsafe class EventFd : IDisposable
{
    private int _fd;

    public EventFd()
    {
        _fd = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
        if (_fd < 0) throw LinuxError.Exception("eventfd");
    }

    public int Fd => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(EventFd));

    /// <summary>Adds one to the counter (what a device does to raise an irqfd).</summary>
    public void Signal()
    {
        ulong one = 1;
        if (LibC.write(Fd, &one, 8) != 8) throw LinuxError.Exception("eventfd write");
    }

    /// <summary>Reads and resets the counter; 0 when nothing was signalled since the last read.</summary>
    public ulong Drain()
    {
        ulong value;
        if (LibC.read(Fd, &value, 8) == 8) return value;
        int errno = LinuxError.LastErrno;
        if (errno == LibC.EAGAIN) return 0;
        throw LinuxError.Exception("eventfd read", errno);
    }

    public void Dispose()
    {
        if (_fd < 0) return;
        LibC.close(_fd);
        _fd = -1;
    }
}

/// <summary>An irqfd: <see cref="Trigger"/> (or a write to <see cref="Event"/>'s fd) raises the GSI in the kernel.</summary>
public sealed class KvmIrqFd : IDisposable
{
    private readonly Action<KvmIrqFd> _detach;
    private bool _disposed;

    internal KvmIrqFd(int gsi, EventFd @event, EventFd? resample, Action<KvmIrqFd> detach)
    {
        Gsi = gsi;
        Event = @event;
        Resample = resample;
        _detach = detach;
    }

    public int Gsi { get; }
    public EventFd Event { get; }

    /// <summary>For level-triggered irqfds: signalled when the guest acknowledged the interrupt.</summary>
    public EventFd? Resample { get; }

    public void Trigger() => Event.Signal();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _detach(this);
        Event.Dispose();
        Resample?.Dispose();
    }
}

/// <summary>An ioeventfd: <see cref="Event"/> counts the guest's writes to the address.</summary>
public sealed class KvmIoEventFd : IDisposable
{
    private readonly Action<KvmIoEventFd> _detach;
    private bool _disposed;

    internal KvmIoEventFd(ulong address, int length, bool isPort, ulong? dataMatch, EventFd @event,
        Action<KvmIoEventFd> detach)
    {
        Address = address;
        Length = length;
        IsPort = isPort;
        DataMatch = dataMatch;
        Event = @event;
        _detach = detach;
    }

    public ulong Address { get; }
    public int Length { get; }
    public bool IsPort { get; }
    public ulong? DataMatch { get; }
    public EventFd Event { get; }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _detach(this);
        Event.Dispose();
    }
}
