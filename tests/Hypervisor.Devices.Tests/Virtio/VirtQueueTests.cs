using Hypervisor.Devices.Virtio;
using Hypervisor.Platform.Memory;
using D = Hypervisor.Devices.Virtio.VirtqDescriptor;

namespace Hypervisor.Devices.Tests.Virtio;

public sealed class VirtQueueTests : IDisposable
{
    private const ulong Buffer = 0x20_0000;
    private const ulong Indirect = 0x30_0000;
    private readonly GuestMemory _memory = VirtioPciHarness.NewMemory();
    private readonly SplitRingDriver _ring;
    private readonly VirtQueue _queue;

    public VirtQueueTests()
    {
        _ring = new SplitRingDriver(_memory, 0x10_0000, 8);
        _queue = _ring.AttachTo(new VirtQueue(_memory, 0, 8));
        _queue.IndirectDescriptors = true;
        Assert.Null(_queue.Enable());
    }

    public void Dispose() => _memory.Dispose();

    private DescriptorChain PopChain()
    {
        Assert.Equal(VirtQueuePopResult.Chain, _queue.TryPop(out var chain));
        return chain;
    }

    private void AssertBroken(string reason)
    {
        Assert.Equal(VirtQueuePopResult.Error, _queue.TryPop(out _));
        Assert.True(_queue.Broken);
        Assert.Contains(reason, _queue.Error);
        Assert.Equal(VirtQueuePopResult.Empty, _queue.TryPop(out _)); // a broken queue stops
    }

    [Fact]
    public void EmptyRingPopsNothing() => Assert.Equal(VirtQueuePopResult.Empty, _queue.TryPop(out _));

    [Fact]
    public void DirectChainSplitsIntoReadableThenWritable()
    {
        _memory.Write(Buffer, "header!!"u8);
        _ring.AddChain(3, (Buffer, 8, false), (Buffer + 100, 4, false), (Buffer + 0x1000, 32, true), (Buffer + 0x2000, 1, true));
        var chain = PopChain();
        Assert.Equal(3, chain.Head);
        Assert.Equal(4, chain.DescriptorCount);
        Assert.Equal(12, chain.ReadableLength);
        Assert.Equal(33, chain.WritableLength);
        Assert.Equal(2, chain.Readable.Length);
        Span<byte> header = stackalloc byte[8];
        Assert.Equal(8, chain.Read(0, header));
        Assert.Equal("header!!"u8, header);
        Assert.Equal(2, chain.Write(31, [1, 2, 3])); // straddles both writable buffers; the third byte does not fit
        Assert.Equal(1, _memory.Read<byte>(Buffer + 0x1000 + 31));
        Assert.Equal(2, _memory.Read<byte>(Buffer + 0x2000));
        Assert.Equal(VirtQueuePopResult.Empty, _queue.TryPop(out _));
    }

    [Fact]
    public void IndirectTableIsFollowed()
    {
        _ring.SetDescriptor(Indirect, 0, Buffer, 16, D.FlagNext, 2);
        _ring.SetDescriptor(Indirect, 2, Buffer + 0x100, 512, D.FlagNext | D.FlagWrite, 1);
        _ring.SetDescriptor(Indirect, 1, Buffer + 0x400, 1, D.FlagWrite);
        // One direct readable descriptor before the table is allowed (2.7.5.3.2); WRITE on the table is ignored.
        _ring.SetDescriptor(0, Buffer + 0x800, 4, D.FlagNext, 5);
        _ring.SetDescriptor(5, Indirect, 3 * 16, D.FlagIndirect | D.FlagWrite);
        _ring.Publish(0);
        var chain = PopChain();
        Assert.Equal(0, chain.Head);
        Assert.Equal(4, chain.DescriptorCount);
        Assert.Equal(20, chain.ReadableLength);
        Assert.Equal(513, chain.WritableLength);
    }

    [Fact]
    public void PushUsedPublishesElementThenIndex()
    {
        _ring.AddChain(2, (Buffer, 8, true));
        var chain = PopChain();
        _queue.PushUsed(chain.Head, 5);
        Assert.Equal(1, _ring.UsedIndex);
        Assert.Equal((2u, 5u), _ring.Used(0));
    }

    [Fact]
    public void SixteenBitIndicesWrapAround()
    {
        // 65536 + 20 round trips: avail and used idx wrap and the ring slots keep cycling (2.7.6, 2.7.8).
        for (int i = 0; i < 65556; i++)
        {
            ushort head = (ushort)(i % 8);
            _ring.SetDescriptor(head, Buffer, 4, D.FlagWrite);
            _ring.Publish(head);
            var chain = PopChain();
            Assert.Equal(head, chain.Head);
            _queue.PushUsed(chain.Head, 4);
        }
        Assert.Equal(65556 & 0xFFFF, _queue.LastAvailableIndex);
        Assert.Equal(65556 & 0xFFFF, _ring.UsedIndex);
        Assert.Equal(((uint)65555 % 8, 4u), _ring.Used(unchecked((ushort)65555)));
    }

    [Fact]
    public void WithoutEventIndexTheNoInterruptFlagDecides()
    {
        _ring.AddChain(0, (Buffer, 4, true));
        _queue.PushUsed(PopChain().Head, 0);
        Assert.True(_queue.NeedsInterrupt());
        _ring.SetNoInterrupt(true);
        Assert.False(_queue.NeedsInterrupt());
    }

    [Fact]
    public void EventIndexSuppressesInterruptsUntilUsedEventIsPassed()
    {
        _queue.EventIndex = true;
        _ring.SetNoInterrupt(true); // ignored with event index
        _ring.SetUsedEvent(2); // interrupt when used idx moves past 2
        for (int i = 0; i < 4; i++)
        {
            _ring.AddChain(i, (Buffer, 4, true));
            _queue.PushUsed(PopChain().Head, 0);
            bool expected = i == 0 || i == 2; // first signal always; then the push that makes idx 3 crosses 2
            Assert.Equal(expected, _queue.NeedsInterrupt());
        }
    }

    [Fact]
    public void EventIndexPublishesAvailEventWhenTheRingRunsDry()
    {
        _queue.EventIndex = true;
        _ring.AddChain(0, (Buffer, 4, true));
        _ring.AddChain(1, (Buffer, 4, true));
        PopChain();
        PopChain();
        Assert.Equal(VirtQueuePopResult.Empty, _queue.TryPop(out _));
        Assert.Equal(2, _ring.AvailEvent); // notify me when you add entry 2
    }

    [Fact]
    public void LoopingChainBreaksTheQueue()
    {
        _ring.SetDescriptor(0, Buffer, 4, D.FlagNext, 1);
        _ring.SetDescriptor(1, Buffer, 4, D.FlagNext, 0);
        _ring.Publish(0);
        AssertBroken("loop");
    }

    [Fact]
    public void LoopInsideAnIndirectTableBreaksTheQueue()
    {
        _ring.SetDescriptor(Indirect, 0, Buffer, 4, D.FlagNext, 1);
        _ring.SetDescriptor(Indirect, 1, Buffer, 4, D.FlagNext, 0);
        _ring.SetDescriptor(0, Indirect, 32, D.FlagIndirect);
        _ring.Publish(0);
        AssertBroken("loop");
    }

    [Fact]
    public void NextIndexOutOfRangeBreaksTheQueue()
    {
        _ring.SetDescriptor(0, Buffer, 4, D.FlagNext, 8);
        _ring.Publish(0);
        AssertBroken("next index");
    }

    [Fact]
    public void HeadOutOfRangeBreaksTheQueue()
    {
        _ring.Publish(9);
        AssertBroken("head index");
    }

    [Fact]
    public void AvailIndexRunningAheadOfTheQueueSizeBreaksIt()
    {
        _ring.SetAvailIndex(9);
        AssertBroken("beyond the queue size");
    }

    [Theory]
    [InlineData(0xFFFF_0000ul, false, "outside guest memory")]
    [InlineData(VirtioPciHarness.RomBase, true, "outside guest RAM")] // ROM is not writable
    [InlineData(VirtioPciHarness.RamSize - 2, false, "outside guest memory")] // straddles two regions
    [InlineData(0xFFFF_FFFF_FFFF_FFF8ul, false, "outside guest memory")] // wraps around
    public void BuffersOutsideGuestMemoryBreakTheQueue(ulong address, bool writable, string reason)
    {
        _ring.AddChain(0, (address, 16u, writable));
        AssertBroken(reason);
    }

    [Fact]
    public void ReadableAfterWritableBreaksTheQueue()
    {
        _ring.AddChain(0, (Buffer, 4, true), (Buffer, 4, false));
        AssertBroken("device-readable buffer after a device-writable one");
    }

    [Theory]
    [InlineData(0u, "multiple of 16")]
    [InlineData(24u, "multiple of 16")]
    public void IndirectTableLengthMustBeANonZeroMultipleOf16(uint length, string reason)
    {
        _ring.SetDescriptor(0, Indirect, length, D.FlagIndirect);
        _ring.Publish(0);
        AssertBroken(reason);
    }

    [Fact]
    public void NestedIndirectBreaksTheQueue()
    {
        _ring.SetDescriptor(Indirect, 0, Indirect + 0x100, 16, D.FlagIndirect);
        _ring.SetDescriptor(0, Indirect, 16, D.FlagIndirect);
        _ring.Publish(0);
        AssertBroken("nested");
    }

    [Fact]
    public void IndirectWithNextBreaksTheQueue()
    {
        _ring.SetDescriptor(Indirect, 0, Buffer, 4, 0);
        _ring.SetDescriptor(0, Indirect, 16, D.FlagIndirect | D.FlagNext, 1);
        _ring.SetDescriptor(1, Buffer, 4, 0);
        _ring.Publish(0);
        AssertBroken("indirect descriptor with NEXT");
    }

    [Fact]
    public void IndirectWithoutTheFeatureBreaksTheQueue()
    {
        _queue.IndirectDescriptors = false;
        _ring.SetDescriptor(Indirect, 0, Buffer, 4, 0);
        _ring.SetDescriptor(0, Indirect, 16, D.FlagIndirect);
        _ring.Publish(0);
        AssertBroken("VIRTIO_F_INDIRECT_DESC");
    }

    [Fact]
    public void ZeroLengthBuffersAnywhereAreHarmless()
    {
        _ring.AddChain(0, (0xFFFF_FFFF_0000, 0, false), (Buffer, 4, true));
        var chain = PopChain();
        Assert.Equal(0, chain.ReadableLength);
        Assert.Equal(4, chain.WritableLength);
    }

    [Fact]
    public void HugeBufferIsHandledInPieces()
    {
        // 15 MiB in one descriptor: larger than one copy piece, still inside RAM.
        _ring.AddChain(0, (0x1000, 15 << 20, true));
        var chain = PopChain();
        int pieces = 0;
        long bytes = chain.ForEachWritable(0, chain.WritableLength, 0, (span, _, _) =>
        {
            pieces++;
            return span.Length <= DescriptorChain.MaxPiece;
        });
        Assert.Equal(15L << 20, bytes);
        Assert.Equal(15, pieces);
    }

    [Fact]
    public void ResetForgetsEverything()
    {
        _ring.AddChain(0, (Buffer, 4, true), (Buffer, 4, false));
        _queue.TryPop(out _);
        _queue.Reset();
        Assert.False(_queue.Broken);
        Assert.False(_queue.Enabled);
        Assert.Equal(8, _queue.Size);
        Assert.Equal(0ul, _queue.DescriptorTable);
        Assert.Equal(0, _queue.LastAvailableIndex);
        Assert.Equal(VirtQueuePopResult.Empty, _queue.TryPop(out _));
    }
}
