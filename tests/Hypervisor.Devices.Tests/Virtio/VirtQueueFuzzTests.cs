using Hypervisor.Devices.Virtio;
using Hypervisor.Devices.Virtio.Block;
using Hypervisor.Devices.Virtio.Net;
using Hypervisor.Devices.Virtio.Rng;
using Hypervisor.Network;
using Hypervisor.Platform.Memory;
using Hypervisor.Storage;
using D = Hypervisor.Devices.Virtio.VirtqDescriptor;

namespace Hypervisor.Devices.Tests.Virtio;

/// <summary>
/// Seeded fuzzing of everything a guest controls in a split ring (TESTING.md 5): descriptor tables, indirect
/// tables, avail ring entries and index, suppression fields and request contents. Whatever the bytes, no
/// exception may escape, nothing outside guest RAM may change (the ROM canary), and each round ends with every
/// published chain used or the device in DEVICE_NEEDS_RESET; afterwards the device must still work.
/// </summary>
public class VirtQueueFuzzTests
{
    private const ulong Scratch = 0x20_0000;
    private const int ScratchSize = 0x1_0000;
    private const ulong IndirectArea = Scratch + 0x8000;

    [Fact]
    public void WalkerOnlyReturnsChainsThatAreInsideGuestMemoryAndOrdered()
    {
        var random = new Random(20240601);
        using var memory = VirtioPciHarness.NewMemory();
        for (int round = 0; round < 4000; round++)
        {
            ushort size = (ushort)(1 << random.Next(0, 7));
            var ring = new SplitRingDriver(memory, 0x10_0000, size);
            var queue = ring.AttachTo(new VirtQueue(memory, 0, 64));
            queue.IndirectDescriptors = random.Next(2) == 0;
            queue.EventIndex = random.Next(2) == 0;
            Assert.Null(queue.Enable());
            int published = Scramble(random, memory, ring);
            int popped = 0;
            while (true)
            {
                var result = queue.TryPop(out var chain);
                if (result != VirtQueuePopResult.Chain)
                {
                    Assert.True(result == VirtQueuePopResult.Error ? queue.Broken : popped == published);
                    break;
                }
                popped++;
                Assert.InRange(chain.DescriptorCount, 1, size + VirtQueue.MaxIndirectDescriptors);
                foreach (var d in chain.Readable)
                    Assert.True(d.Length == 0 || memory.Find(d.Address, d.Length) is not null);
                foreach (var d in chain.Writable)
                    Assert.True(d.Length == 0 || memory.IsRam(d.Address, d.Length));
                queue.PushUsed(chain.Head, (uint)Math.Min(chain.WritableLength, 16));
                queue.NeedsInterrupt();
            }
        }
        Assert.True(memory.GetReadOnlySpan(VirtioPciHarness.RomBase, VirtioPciHarness.RomSize).SequenceEqual(VirtioPciHarness.Canary));
    }

    [Fact]
    public void RngSurvivesRandomRings()
    {
        using var h = new VirtioPciHarness(memory => new VirtioRng(memory));
        Fuzz(h, new Random(7), rounds: 3000, waitForWorker: false);
    }

    [Fact]
    public void BlockDeviceSurvivesRandomRingsAndRequests()
    {
        string path = Path.Combine(Path.GetTempPath(), $"hv-fuzz-{Guid.NewGuid():N}.img");
        File.WriteAllBytes(path, new byte[64 * 512]);
        try
        {
            using var h = new VirtioPciHarness(memory => new VirtioBlk(memory, RawFileBackend.Open(path)));
            Fuzz(h, new Random(11), rounds: 600, waitForWorker: true);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void NetDeviceSurvivesRandomRingsOnBothQueues()
    {
        var backend = new FakeNetBackend();
        using var h = new VirtioPciHarness(memory => new VirtioNet(memory, backend, new MacAddress(0x52_54_00_12_34_56)));
        var random = new Random(13);
        ulong[] featureChoices =
        [
            VirtioPciHarness.FullFeatures | VirtioNetConstants.FeatureMergeableRxBuffers,
            VirtioPciHarness.FullFeatures, VirtioFeatures.Version1 | VirtioNetConstants.FeatureMergeableRxBuffers,
        ];
        var frame = new byte[9000];
        int needsReset = 0, delivered = 0, sent = 0;
        for (int round = 0; round < 1500; round++)
        {
            ushort size = (ushort)(1 << random.Next(0, 7));
            var rings = h.Start(featureChoices[random.Next(featureChoices.Length)], size);
            int published = Scramble(random, h.Memory, rings[VirtioNetConstants.TransmitQueue]);
            Scramble(random, h.Memory, rings[VirtioNetConstants.ReceiveQueue]);
            int before = backend.Sent.Count;
            h.Notify(VirtioNetConstants.TransmitQueue);
            sent += backend.Sent.Count - before;
            for (int i = random.Next(1, 6); i > 0; i--)
            {
                random.NextBytes(frame);
                int length = random.Next(4) == 0 ? random.Next(0, frame.Length) : random.Next(14, 1515);
                if (backend.Deliver(frame[..length]) == NetDelivery.Delivered) delivered++;
            }
            if (random.Next(4) == 0) h.Notify(random.Next(2, 40)); // queues that do not exist
            bool broken = (h.Status & VirtioDeviceStatus.DeviceNeedsReset) != 0;
            Assert.True(broken || rings[VirtioNetConstants.TransmitQueue].UsedIndex == (ushort)published,
                $"round {round}: tx used {rings[VirtioNetConstants.TransmitQueue].UsedIndex} of {published}");
            if (broken) needsReset++;
            Assert.True(h.CanaryIntact);
        }
        Assert.True(needsReset > 50 && delivered > 50 && sent > 50, $"{needsReset} resets, {delivered} delivered, {sent} sent");

        var clean = h.Start(featureChoices[0]);
        clean[VirtioNetConstants.ReceiveQueue].AddChain(0, (Scratch, 2048, true));
        Assert.Equal(NetDelivery.Delivered, backend.Deliver(new byte[60]));
        Assert.Equal(1, clean[VirtioNetConstants.ReceiveQueue].UsedIndex);
        Assert.Equal(VirtioDeviceStatus.None, h.Status & VirtioDeviceStatus.DeviceNeedsReset);
    }

    private static void Fuzz(VirtioPciHarness h, Random random, int rounds, bool waitForWorker)
    {
        ulong[] featureChoices =
        [
            VirtioPciHarness.FullFeatures, VirtioFeatures.Version1,
            VirtioFeatures.Version1 | VirtioFeatures.RingIndirectDescriptors,
        ];
        int needsReset = 0, processed = 0;
        for (int round = 0; round < rounds; round++)
        {
            ushort size = (ushort)(1 << random.Next(0, 7));
            var ring = h.Start(featureChoices[random.Next(featureChoices.Length)], size)[0];
            int published = Scramble(random, h.Memory, ring);
            h.Notify(0);
            if (random.Next(4) == 0) h.Notify(random.Next(1, 40)); // queues that do not exist
            bool Settled() =>
                (h.Status & VirtioDeviceStatus.DeviceNeedsReset) != 0 || ring.UsedIndex == (ushort)published;
            if (waitForWorker) VirtioPciHarness.WaitUntil(Settled);
            Assert.True(Settled(), $"round {round}: used {ring.UsedIndex} of {published}, status {h.Status}");
            if ((h.Status & VirtioDeviceStatus.DeviceNeedsReset) != 0) needsReset++;
            else processed++;
            Assert.True(h.CanaryIntact);
        }
        // Both outcomes must have happened, or the fuzzer is not exploring.
        Assert.True(needsReset > rounds / 20 && processed > rounds / 20, $"{needsReset} resets, {processed} processed");

        // The VMM and the device are fine: a clean start and a well-formed request work.
        var clean = h.Start()[0];
        h.Memory.Write(Scratch, new byte[16]); // blk: a read of sector 0; rng: just bytes
        clean.AddChain(0, (Scratch, 16, false), (Scratch + 0x100, 512, true), (Scratch + 0x400, 1, true));
        h.Notify(0);
        if (waitForWorker) VirtioPciHarness.WaitUntil(() => clean.UsedIndex == 1);
        Assert.Equal(1, clean.UsedIndex);
        Assert.Equal(VirtioDeviceStatus.None, h.Status & VirtioDeviceStatus.DeviceNeedsReset);
    }

    /// <summary>Random descriptor table, indirect tables, request bytes and avail ring; returns the avail count.</summary>
    private static int Scramble(Random random, GuestMemory memory, SplitRingDriver ring)
    {
        var bytes = new byte[ScratchSize];
        random.NextBytes(bytes);
        memory.Write(Scratch, bytes);
        for (int i = 0; i < ring.Size; i++)
        {
            var (address, length, flags, next) = RandomDescriptor(random, ring.Size);
            ring.SetDescriptor(i, address, length, flags, next);
        }
        int tables = random.Next(3);
        for (int t = 0; t < tables; t++)
        {
            int entries = random.Next(1, 9);
            ulong table = IndirectArea + (ulong)t * 0x200;
            for (int i = 0; i < entries; i++)
            {
                var (address, length, flags, next) = RandomDescriptor(random, entries);
                ring.SetDescriptor(table, i, address, length, flags, next);
            }
            ring.SetDescriptor(random.Next(ring.Size), table, (uint)(random.Next(8) == 0 ? random.Next(64) : entries * 16),
                (ushort)(D.FlagIndirect | (random.Next(6) == 0 ? D.FlagNext : 0)), (ushort)random.Next(ring.Size));
        }
        if (random.Next(3) == 0) ring.SetNoInterrupt(true);
        ring.SetUsedEvent((ushort)random.Next(65536));

        int count = random.Next(12) == 0 ? ring.Size + random.Next(1, 100) : random.Next(ring.Size + 1);
        for (int i = 0; i < count; i++)
            ring.Publish((ushort)(random.Next(10) == 0 ? random.Next(ring.Size + 3) : random.Next(ring.Size)));
        return count;
    }

    private static (ulong Address, uint Length, ushort Flags, ushort Next) RandomDescriptor(Random random, int tableSize)
    {
        ulong address = random.Next(10) switch
        {
            < 7 => Scratch + (ulong)random.Next(ScratchSize / 2),
            7 => VirtioPciHarness.RamSize - (ulong)random.Next(64),
            8 => VirtioPciHarness.RomBase + (ulong)random.Next(VirtioPciHarness.RomSize),
            _ => (ulong)random.NextInt64(),
        };
        uint length = random.Next(10) switch
        {
            < 6 => (uint)random.Next(0, 600),
            < 9 => (uint)random.Next(0, 0x1_0000),
            _ => (uint)random.NextInt64(0, uint.MaxValue + 1L),
        };
        // Mostly plain NEXT/WRITE combinations so chains get long enough to reach the interesting checks.
        ushort flags = (ushort)(random.Next(8) == 0 ? random.Next(8) : random.Next(4));
        ushort next = (ushort)(random.Next(10) == 0 ? random.Next(tableSize + 3) : random.Next(tableSize));
        return (address, length, flags, next);
    }
}
