using Hypervisor.Network;

namespace Hypervisor.Devices.Tests.Virtio;

/// <summary>A backend the test drives: frames the guest sent are collected, frames for the guest are delivered synchronously.</summary>
internal sealed class FakeNetBackend(int vnetHeaderSize = 0) : INetBackend
{
    public INetFrameSink? Sink { get; private set; }
    public List<byte[]> Sent { get; } = [];
    public int Resumes { get; private set; }
    public bool Disposed { get; private set; }

    public string Description => "fake";
    public int VnetHeaderSize { get; } = vnetHeaderSize;

    public void Start(INetFrameSink sink) => Sink = sink;

    public bool Send(ReadOnlySpan<byte> frame)
    {
        lock (Sent) Sent.Add(frame.ToArray());
        return true;
    }

    public void ResumeReceive() => Resumes++;

    public NetDelivery Deliver(byte[] frame) => Sink!.Deliver(frame);

    public void Dispose() => Disposed = true;
}
