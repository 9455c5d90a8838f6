using Hypervisor.Platform;

namespace Hypervisor.Devices.Pci;

/// <summary>
/// Function 0 of the 82371SB PIIX3 at 00:01.0: the PCI-to-ISA bridge (8086:7000, class 06/01, multi-function
/// header). hv models its PCI interrupt steering: PIRQRC[A:D] at 0x60-0x63 feed <see cref="PciIntxRouter"/>.
/// </summary>
public sealed class Piix3IsaBridge : PciDevice
{
    public const ushort DeviceId82371SB = 0x7000;
    public const uint ClassIsaBridge = 0x06_01_00;
    public const int Slot = 1;

    /// <summary>PIRQRC[A] .. PIRQRC[D].</summary>
    public const int PirqRouteControl = 0x60;

    private readonly PciIntxRouter _router;

    public Piix3IsaBridge(PciIntxRouter router)
        : base("PIIX3 ISA bridge", I440fxHostBridge.VendorIntel, DeviceId82371SB, ClassIsaBridge, revision: 0,
            multiFunction: true)
    {
        _router = router;
        // Datasheet power-on values: PCICMD 0007h, PCISTS 0200h (medium DEVSEL).
        Config.SetWord(PciRegisters.Command,
            (ushort)(PciCommand.IoSpace | PciCommand.MemorySpace | PciCommand.BusMaster));
        Config.SetWord(PciRegisters.Status, (ushort)PciStatus.DevselMedium);
        for (int pirq = 0; pirq < PciIntxRouter.PirqCount; pirq++)
        {
            // Bit 7 IRQEN# (1 = not routed, the reset value), bits 6:4 reserved read 0, bits 3:0 the IRQ.
            Config.SetByte(PirqRouteControl + pirq, PciIntxRouter.RoutingDisabled);
            Config.SetWriteMask(PirqRouteControl + pirq, 1, 0x8F);
        }
        PushRoutes();
    }

    /// <summary>
    /// The ISA IRQs hv routes PIRQA..D to for direct kernel boot: what SeaBIOS programs on this chipset, so a guest
    /// sees the same lines with or without a BIOS. The DSDT's _PRT uses the same numbers (<see cref="PcPlatform.PirqGsi"/>).
    /// </summary>
    public static ReadOnlySpan<byte> DefaultRoutes => PcPlatform.PirqGsi;

    /// <summary>
    /// The ISA IRQ (= GSI) that INTx# pin <paramref name="pin"/> of a device in bus-0 slot <paramref name="slot"/>
    /// reaches under the default routes: what the DSDT writer puts in _PRT.
    /// </summary>
    public static int DefaultIrq(int slot, PciInterruptPin pin) => DefaultRoutes[PciIntxRouter.SwizzlePirq(slot, pin)];

    /// <summary>Programs PIRQRC[A:D] with <see cref="DefaultRoutes"/>, as firmware does during POST.</summary>
    public void ProgramDefaultRoutes()
    {
        for (int pirq = 0; pirq < PciIntxRouter.PirqCount; pirq++)
            WriteConfig(PirqRouteControl + pirq, 1, DefaultRoutes[pirq]);
    }

    protected override void OnConfigWritten(int offset, int size, uint value)
    {
        if (offset < PirqRouteControl + PciIntxRouter.PirqCount && PirqRouteControl < offset + size) PushRoutes();
    }

    protected override void OnReset() => PushRoutes();

    private void PushRoutes()
    {
        for (int pirq = 0; pirq < PciIntxRouter.PirqCount; pirq++)
            _router.SetRoute(pirq, Config.GetByte(PirqRouteControl + pirq));
    }
}
