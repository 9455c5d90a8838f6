using System.Numerics;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Pci;

/// <summary>
/// Base of a PCI function with a type 0 header. A device declares its BARs and capabilities in its constructor;
/// this class keeps the BAR ranges registered on the port/MMIO bus exactly while the guest has them enabled,
/// and routes interrupts to MSI-X, MSI or INTx (<see cref="NotifyVector"/>). Configuration accesses, interrupt
/// signalling and BAR moves are serialised on <see cref="SyncRoot"/>, which devices may use for their own state.
/// </summary>
public abstract class PciDevice
{
    private readonly PciBar?[] _bars = new PciBar?[PciRegisters.BarCount + 1];
    private readonly List<PciCapability> _capabilities = [];
    private PciBus? _bus;
    private byte[]? _powerOnImage;
    private bool _intxLevel;
    private bool _intxDriven;

    protected PciDevice(string name, ushort vendorId, ushort deviceId, uint classCode, byte revision,
        PciInterruptPin interruptPin = PciInterruptPin.None, bool multiFunction = false,
        int configSpaceSize = PciConfigSpace.ConventionalSize)
    {
        Name = name;
        Config = new PciConfigSpace(configSpaceSize);
        Config.InitializeType0Header(vendorId, deviceId, classCode, revision, interruptPin, multiFunction);
    }

    public string Name { get; }
    public PciConfigSpace Config { get; }

    /// <summary>Where the device sits; valid once it is attached to a <see cref="PciBus"/>.</summary>
    public PciAddress Address { get; private set; }

    public PciBus? Bus => _bus;
    public object SyncRoot { get; } = new();

    /// <summary>BAR0-5 and the expansion ROM (index 6); null where nothing is declared.</summary>
    public IReadOnlyList<PciBar?> Bars => _bars;

    public IReadOnlyList<PciCapability> Capabilities => _capabilities;
    public MsiCapability? Msi { get; private set; }
    public MsiXCapability? MsiX { get; private set; }

    public PciInterruptPin InterruptPin => Config.InterruptPin;

    /// <summary>Command bit 2: a device must not master the bus (DMA, MSI writes) while it is clear (6.2.2).</summary>
    public bool IsBusMaster => (Config.Command & PciCommand.BusMaster) != 0;

    /// <summary>Whether the device's INTx# pin is driven now (after Interrupt Disable and MSI/MSI-X gating).</summary>
    public bool IsIntxAsserted => _intxDriven;

    /// <summary>Guest configuration read; a device overrides it for registers with read side effects.</summary>
    public virtual uint ReadConfig(int offset, int size)
    {
        lock (SyncRoot) return Config.Read(offset, size);
    }

    /// <summary>Guest configuration write: applies the masks, then the side effects of the bytes written.</summary>
    public void WriteConfig(int offset, int size, uint value)
    {
        lock (SyncRoot)
        {
            Config.Write(offset, size, value);
            if (Touches(offset, size, PciRegisters.Command, 2))
                UpdateIntxPin();
            if (Touches(offset, size, PciRegisters.Command, 2) ||
                Touches(offset, size, PciRegisters.Bar0, 4 * PciRegisters.BarCount) ||
                Touches(offset, size, PciRegisters.ExpansionRomBar, 4))
                UpdateBarMappings();
            foreach (var capability in _capabilities)
                if (Touches(offset, size, capability.Offset, capability.Length))
                    capability.ConfigWritten();
            OnConfigWritten(offset, size, value);
        }
    }

    /// <summary>
    /// Signals interrupt <paramref name="vector"/> the way the guest configured the function: an MSI-X message if
    /// MSI-X is enabled, else an MSI message if MSI is enabled, else INTx# is asserted (level-triggered: the
    /// device deasserts with <see cref="SetIntxLevel"/>(false) when the guest acknowledges, e.g. reads its ISR).
    /// </summary>
    public void NotifyVector(int vector)
    {
        lock (SyncRoot)
        {
            if (MsiX is { Enabled: true }) MsiX.Signal(vector);
            else if (Msi is { Enabled: true }) Msi.Signal(vector);
            else SetIntxLevel(true);
        }
    }

    /// <summary>
    /// Sets the function's internal interrupt state, which Status bit 3 reflects; INTx# follows it unless Interrupt
    /// Disable is set (6.2.2, 6.2.3) or MSI/MSI-X is enabled (6.8: a function using MSI must not use INTx#).
    /// </summary>
    public void SetIntxLevel(bool level)
    {
        lock (SyncRoot)
        {
            _intxLevel = level;
            Config.SetStatusBits(PciStatus.InterruptStatus, level);
            UpdateIntxPin();
        }
    }

    /// <summary>Device (PCI RST#) reset: decoding off, BARs unmapped, configuration back to power-on values.</summary>
    public void Reset()
    {
        lock (SyncRoot)
        {
            if (_powerOnImage is not null) Config.RestoreValues(_powerOnImage);
            _intxLevel = false;
            UpdateBarMappings();
            UpdateIntxPin();
            foreach (var capability in _capabilities) capability.Reset();
            OnReset();
        }
    }

    /// <summary>Called under <see cref="SyncRoot"/> after a guest configuration write, for device registers.</summary>
    protected virtual void OnConfigWritten(int offset, int size, uint value)
    {
    }

    /// <summary>Called under <see cref="SyncRoot"/> at the end of <see cref="Reset"/>.</summary>
    protected virtual void OnReset()
    {
    }

    protected void DeclareIoBar(int index, uint size, IBusDevice handler) =>
        DeclareBar(index, PciBarKind.Io, size, false, handler);

    protected void DeclareMemoryBar(int index, ulong size, IBusDevice handler, bool is64Bit = false,
        bool prefetchable = false) =>
        DeclareBar(index, is64Bit ? PciBarKind.Memory64 : PciBarKind.Memory32, size, prefetchable, handler);

    protected void DeclareExpansionRom(uint size, IBusDevice handler) =>
        DeclareBar(PciBar.ExpansionRomIndex, PciBarKind.ExpansionRom, size, false, handler);

    /// <summary>Adds a capability whose body the device lays out itself (vendor-specific, PCIe ...).</summary>
    protected int AddCapability(byte id, int length) => Config.AddCapability(id, length);

    protected MsiCapability AddMsiCapability(int vectors = 1, bool is64Bit = true, bool perVectorMasking = false)
    {
        if (Msi is not null) throw new InvalidOperationException($"{Name} already has an MSI capability");
        var msi = new MsiCapability(this, vectors, is64Bit, perVectorMasking);
        _capabilities.Add(msi);
        return Msi = msi;
    }

    /// <summary>
    /// Adds MSI-X with <paramref name="vectors"/> table entries. The table and PBA live in memory BARs the device
    /// declared; it routes accesses there to <see cref="MsiXCapability.TryRead"/>/<see cref="MsiXCapability.TryWrite"/>
    /// or uses <see cref="MsiXCapability.BarHandler"/> when the BAR holds nothing else.
    /// </summary>
    protected MsiXCapability AddMsiXCapability(int vectors, int tableBar, uint tableOffset, int pbaBar, uint pbaOffset)
    {
        if (MsiX is not null) throw new InvalidOperationException($"{Name} already has an MSI-X capability");
        var msix = new MsiXCapability(this, vectors, tableBar, tableOffset, pbaBar, pbaOffset);
        _capabilities.Add(msix);
        return MsiX = msix;
    }

    internal void Attach(PciBus bus, PciAddress address)
    {
        if (_bus is not null) throw new InvalidOperationException($"{Name} is already attached at {Address}");
        _bus = bus;
        Address = address;
        _powerOnImage = Config.CaptureValues();
    }

    /// <summary>An MSI/MSI-X memory write; dropped while bus mastering is off (6.8: MSI is a bus-master write).</summary>
    internal bool SendMessage(ulong address, uint data)
    {
        if (_bus is null || !IsBusMaster) return false;
        _bus.Interrupts.SendMsi(address, data);
        return true;
    }

    /// <summary>Called by MSI/MSI-X when their enable bits change: INTx# gating depends on them.</summary>
    internal void UpdateIntxPin()
    {
        bool drive = _intxLevel && _bus is not null && InterruptPin != PciInterruptPin.None &&
                     (Config.Command & PciCommand.InterruptDisable) == 0 &&
                     Msi is not { Enabled: true } && MsiX is not { Enabled: true };
        if (drive == _intxDriven) return;
        _intxDriven = drive;
        _bus!.IntxRouter.SetPinLevel(Address.Device, InterruptPin, drive);
    }

    private void DeclareBar(int index, PciBarKind kind, ulong size, bool prefetchable, IBusDevice handler)
    {
        if (_bus is not null) throw new InvalidOperationException("BARs are declared before the device is attached");
        int last = kind == PciBarKind.Memory64 ? index + 1 : index;
        bool rom = kind == PciBarKind.ExpansionRom;
        if (!rom && (index < 0 || last >= PciRegisters.BarCount))
            throw new ArgumentOutOfRangeException(nameof(index), index, "BAR index out of 0-5");
        for (int i = index; i <= last; i++)
            if (_bars[i] is not null || (i > 0 && !rom && _bars[i - 1]?.Kind == PciBarKind.Memory64))
                throw new InvalidOperationException($"BAR{i} of {Name} is already in use");
        // Minimum decode sizes: 4 bytes of I/O, 16 bytes of memory (6.2.5.1), 2 KiB of ROM (6.2.5.2).
        ulong min = kind switch { PciBarKind.Io => 4, PciBarKind.ExpansionRom => 2048, _ => 16 };
        ulong max = kind switch
        {
            PciBarKind.Io => 256, PciBarKind.Memory64 => 1UL << 48, PciBarKind.ExpansionRom => 16 << 20,
            _ => 1UL << 31,
        };
        if (!BitOperations.IsPow2(size) || size < min || size > max)
            throw new ArgumentOutOfRangeException(nameof(size), size, $"{kind} BAR size must be a power of two in {min}..{max}");
        if (rom && prefetchable) throw new ArgumentException("the expansion ROM has no prefetchable bit");

        var bar = new PciBar(index, kind, size, prefetchable, handler);
        _bars[index] = bar;
        Config.SetDword(bar.RegisterOffset, bar.TypeBits);
        Config.SetWriteMask(bar.RegisterOffset, 4, bar.LowWriteMask);
        if (kind == PciBarKind.Memory64)
            Config.SetWriteMask(bar.RegisterOffset + 4, 4, bar.HighWriteMask);
    }

    /// <summary>Moves every BAR's bus registration to where its register and the Command decode bits say.</summary>
    private void UpdateBarMappings()
    {
        foreach (var bar in _bars)
        {
            if (bar is null) continue;
            ulong? wanted = _bus is null ? null : bar.DecodedAddress(Config);
            if (wanted == bar.MappedAddress) continue;
            Bus platformBus = bar.IsIo ? _bus!.Ports : _bus!.Mmio;
            if (bar.MappedAddress is { } old)
            {
                platformBus.Unregister(old);
                bar.MappedAddress = null;
            }
            if (wanted is { } address)
            {
                try
                {
                    platformBus.Register(address, bar.Size, bar.Handler, $"{Address} {Name} BAR{bar.Index}");
                    bar.MappedAddress = address;
                }
                catch (InvalidOperationException)
                {
                    // The guest placed the BAR over another range. Real hardware would decode both and the bus would
                    // see a conflict; hv leaves this BAR undecoded until the guest moves it somewhere free.
                }
            }
            OnBarMoved(bar);
        }
    }

    /// <summary>
    /// Called under <see cref="SyncRoot"/> after <paramref name="bar"/> was mapped, moved or unmapped, for state
    /// that follows the BAR's address (a hypervisor's in-kernel notification ranges).
    /// </summary>
    protected virtual void OnBarMoved(PciBar bar)
    {
    }

    private static bool Touches(int offset, int size, int start, int length) =>
        offset < start + length && start < offset + size;
}
