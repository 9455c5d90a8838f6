using Hypervisor.Devices.Pci;

namespace Hypervisor.Devices.Tests.Pci;

public class PciConfigSpaceTests
{
    [Fact]
    public void StatusErrorBitsClearOnlyWhereOnesAreWritten()
    {
        var config = new PciConfigSpace();
        config.InitializeType0Header(0x8086, 0x1234, 0x02_00_00, 1, PciInterruptPin.IntA);
        config.SetWord(PciRegisters.Status, (ushort)(PciStatus.ReceivedMasterAbort | PciStatus.DetectedParityError |
                                                     PciStatus.DevselMedium | PciStatus.InterruptStatus));
        config.Write(PciRegisters.Status, 2, (uint)PciStatus.ReceivedMasterAbort);
        Assert.Equal(PciStatus.DetectedParityError | PciStatus.DevselMedium | PciStatus.InterruptStatus, config.Status);
        // Writing ones to read-only status bits changes nothing; writing zeros clears nothing.
        config.Write(PciRegisters.Status, 2, 0);
        config.Write(PciRegisters.Status, 2, (uint)(PciStatus.InterruptStatus | PciStatus.DevselMedium));
        Assert.Equal(PciStatus.DetectedParityError | PciStatus.DevselMedium | PciStatus.InterruptStatus, config.Status);
    }

    [Fact]
    public void DwordWriteToCommandDoesNotClearStatusUnlessOnesAreWrittenThere()
    {
        var config = new PciConfigSpace();
        config.InitializeType0Header(0x8086, 0x1234, 0x02_00_00, 1, PciInterruptPin.IntA);
        config.SetWord(PciRegisters.Status, (ushort)PciStatus.SignaledTargetAbort);
        config.Write(PciRegisters.Command, 4, 0x0000_0007);
        Assert.Equal(PciStatus.SignaledTargetAbort, config.Status);
        Assert.Equal(PciCommand.IoSpace | PciCommand.MemorySpace | PciCommand.BusMaster, config.Command);
    }

    [Fact]
    public void CommandRegisterKeepsOnlyImplementedBits()
    {
        var config = new PciConfigSpace();
        config.InitializeType0Header(0x8086, 0x1234, 0x02_00_00, 1, PciInterruptPin.IntA);
        config.Write(PciRegisters.Command, 2, 0xFFFF);
        Assert.Equal(0x0547u, config.Read(PciRegisters.Command, 2));

        var noPin = new PciConfigSpace();
        noPin.InitializeType0Header(0x8086, 0x1234, 0x02_00_00, 1, PciInterruptPin.None);
        noPin.Write(PciRegisters.Command, 2, 0xFFFF);
        Assert.Equal(0x0147u, noPin.Read(PciRegisters.Command, 2));
    }

    [Fact]
    public void CapabilityListIsChainedFromTheCapabilitiesPointer()
    {
        var config = new PciConfigSpace();
        config.InitializeType0Header(0x8086, 0x1234, 0x02_00_00, 1, PciInterruptPin.None);
        Assert.Empty(config.WalkCapabilities());
        Assert.Equal(PciStatus.None, config.Status & PciStatus.CapabilitiesList);

        int first = config.AddCapability(PciCapabilityId.PowerManagement, 8);
        int second = config.AddCapability(PciCapabilityId.VendorSpecific, 14);
        int third = config.AddCapability(PciCapabilityId.MsiX, 12);

        Assert.Equal(0x40, first);
        Assert.Equal(0x48, second);
        Assert.Equal(0x58, third); // 0x48 + 14 rounded up to a DWORD
        Assert.Equal(PciStatus.CapabilitiesList, config.Status & PciStatus.CapabilitiesList);
        Assert.Equal(0x40u, config.Read(PciRegisters.CapabilitiesPointer, 1));
        Assert.Equal(0x4801u, config.Read(first, 2));
        Assert.Equal(0x5809u, config.Read(second, 2));
        Assert.Equal(0x0011u, config.Read(third, 2));
        Assert.Equal([(PciCapabilityId.PowerManagement, 0x40), (PciCapabilityId.VendorSpecific, 0x48),
            (PciCapabilityId.MsiX, 0x58)], config.WalkCapabilities());
    }

    [Fact]
    public void CapabilityHeadersAreReadOnly()
    {
        var config = new PciConfigSpace();
        config.InitializeType0Header(0x8086, 0x1234, 0x02_00_00, 1, PciInterruptPin.None);
        int cap = config.AddCapability(PciCapabilityId.VendorSpecific, 8);
        config.Write(cap, 2, 0xFFFF);
        config.Write(PciRegisters.CapabilitiesPointer, 1, 0x80);
        Assert.Equal(0x0009u, config.Read(cap, 2));
        Assert.Equal(0x40u, config.Read(PciRegisters.CapabilitiesPointer, 1));
    }

    [Fact]
    public void CapabilityThatDoesNotFitIsRefused()
    {
        var config = new PciConfigSpace();
        config.AddCapability(PciCapabilityId.VendorSpecific, 0xB0);
        Assert.Throws<InvalidOperationException>(() => config.AddCapability(PciCapabilityId.Msi, 0x20));
    }

    [Fact]
    public void WalkStopsOnALoopAConfusedGuestCannotBuildButADeviceBugCould()
    {
        var config = new PciConfigSpace();
        int a = config.AddCapability(PciCapabilityId.VendorSpecific, 4);
        config.AddCapability(PciCapabilityId.VendorSpecific, 4);
        config.SetByte(a + 4 + 1, (byte)a);
        Assert.Equal(2, config.WalkCapabilities().Count);
    }

    [Fact]
    public void ExtendedConfigSpaceHas4096BytesAndOtherSizesAreRefused()
    {
        var config = new PciConfigSpace(PciConfigSpace.ExtendedSize);
        config.SetWriteMask(0x800, 4, 0xFFFF_FFFF);
        config.Write(0x800, 4, 0x1234_5678);
        Assert.Equal(0x1234_5678u, config.Read(0x800, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PciConfigSpace(512));
        Assert.Throws<ArgumentOutOfRangeException>(() => config.Read(0x1000, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => config.Read(0, 3));
    }
}
