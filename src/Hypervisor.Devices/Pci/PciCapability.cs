namespace Hypervisor.Devices.Pci;

/// <summary>
/// A capability structure hv implements behaviour for (MSI, MSI-X). Its registers live in the owner's
/// configuration space; <see cref="ConfigWritten"/> runs under the owner's lock after a guest write touched them.
/// </summary>
public abstract class PciCapability
{
    private protected PciCapability(PciDevice owner, byte id, int length)
    {
        Owner = owner;
        Id = id;
        Length = length;
        Offset = owner.Config.AddCapability(id, length);
    }

    public PciDevice Owner { get; }
    public byte Id { get; }
    public int Offset { get; }
    public int Length { get; }

    protected PciConfigSpace Config => Owner.Config;

    internal abstract void ConfigWritten();

    /// <summary>Resets state kept outside configuration space (which the owner restores itself).</summary>
    internal virtual void Reset()
    {
    }
}
