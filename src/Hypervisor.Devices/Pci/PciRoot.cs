using Hypervisor.Platform.Interrupts;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Pci;

/// <summary>
/// The PCI part of an i440FX PC, assembled as QEMU's pc machine has it: bus 0 behind configuration ports
/// 0xCF8-0xCFF, the 82441FX host bridge at 00:00.0 and the PIIX3 ISA bridge at 00:01.0. Devices go in slots from
/// <see cref="FirstFreeSlot"/> on.
/// </summary>
public sealed class PciRoot
{
    public const int HostBridgeSlot = 0;
    public const int FirstFreeSlot = 2;

    public PciRoot(PortIoBus ports, MmioBus mmio, IInterruptController interrupts, IVmControl vmControl)
    {
        Bus = new PciBus(ports, mmio, interrupts);
        Host = new PciHost(Bus, vmControl);
        Host.Register(ports);
        HostBridge = new I440fxHostBridge();
        Bus.Attach(HostBridge, HostBridgeSlot);
        IsaBridge = new Piix3IsaBridge(Bus.IntxRouter);
        Bus.Attach(IsaBridge, Piix3IsaBridge.Slot);
    }

    public PciBus Bus { get; }
    public PciHost Host { get; }
    public I440fxHostBridge HostBridge { get; }
    public Piix3IsaBridge IsaBridge { get; }

    /// <summary>Puts <paramref name="device"/> in the first free slot from 2 on and returns the slot.</summary>
    public int AddDevice(PciDevice device)
    {
        int slot = Bus.FindFreeSlot(FirstFreeSlot);
        Bus.Attach(device, slot);
        return slot;
    }

    public void AddDevice(PciDevice device, int slot, int function = 0) => Bus.Attach(device, slot, function);

    /// <summary>
    /// Firmware's PCI setup for direct kernel boot: the default PIRQ routes, then BAR addresses, decoding and
    /// Interrupt Line for every device. A BIOS boot skips this; the BIOS does it.
    /// </summary>
    public IReadOnlyList<PciBarAssignment> ConfigureForDirectBoot(PciBarAllocator? allocator = null)
    {
        IsaBridge.ProgramDefaultRoutes();
        return (allocator ?? new PciBarAllocator()).Assign(Bus);
    }

    /// <summary>Platform reset: PCI RST# to every function and the host's CONFIG_ADDRESS and RC registers cleared.</summary>
    public void Reset()
    {
        Host.Reset();
        Bus.Reset();
    }
}
