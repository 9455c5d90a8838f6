using Hypervisor.Devices.Pci;

namespace Hypervisor.Devices.Tests.Pci;

public class I440fxHostBridgeTests
{
    [Fact]
    public void PowerOnCommandAndStatusAreTheDatasheetValues()
    {
        var pc = new PciMachine();
        Assert.Equal(0x0280_0006u, pc.ReadConfig(0, 0, PciRegisters.Command, 4));
        Assert.Equal(0x0200_0007u, pc.ReadConfig(1, 0, PciRegisters.Command, 4));
    }

    [Fact]
    public void SubsystemIdsAreQemusSoSeaBiosRecognisesThePlatform()
    {
        var pc = new PciMachine();
        Assert.Equal(0x1100_1AF4u, pc.ReadConfig(0, 0, PciRegisters.SubsystemVendorId, 4));
        // Read-only: a write does not change them.
        pc.WriteConfig(0, 0, PciRegisters.SubsystemVendorId, 4, 0);
        Assert.Equal(0x1100_1AF4u, pc.ReadConfig(0, 0, PciRegisters.SubsystemVendorId, 4));
    }

    [Fact]
    public void PamRegistersSteerTheBiosSegments()
    {
        var pc = new PciMachine();
        int changes = 0;
        pc.Root.HostBridge.PamChanged += _ => changes++;
        Assert.All(pc.Root.HostBridge.PamSegments, s => Assert.Equal(PamAccess.None, s.Access));

        // SeaBIOS makes 0F0000h read/write RAM while it shadows itself: PAM0 = 30h.
        pc.WriteConfig(0, 0, I440fxHostBridge.Pam0, 1, 0xFF);
        pc.WriteConfig(0, 0, I440fxHostBridge.Pam0 + 1, 1, 0x21);
        var segments = pc.Root.HostBridge.PamSegments;
        Assert.Equal(0x30u, pc.ReadConfig(0, 0, I440fxHostBridge.Pam0, 1));
        Assert.Equal(new PamSegment(0xF_0000, 0x1_0000, PamAccess.Read | PamAccess.Write), segments[0]);
        Assert.Equal(new PamSegment(0xC_0000, 0x4000, PamAccess.Read), segments[1]);
        Assert.Equal(new PamSegment(0xC_4000, 0x4000, PamAccess.Write), segments[2]);
        Assert.Equal(new PamSegment(0xE_C000, 0x4000, PamAccess.None), segments[12]);
        Assert.Equal(2, changes);

        pc.WriteConfig(0, 0, I440fxHostBridge.Pam0 + 6, 1, 0xFF);
        Assert.Equal(0x33u, pc.ReadConfig(0, 0, I440fxHostBridge.Pam0 + 6, 1));
        Assert.Equal(PamAccess.Read | PamAccess.Write, pc.Root.HostBridge.PamSegments[12].Access);
        pc.WriteConfig(0, 0, PciRegisters.LatencyTimer, 1, 0x20);
        Assert.Equal(3, changes);
    }
}
