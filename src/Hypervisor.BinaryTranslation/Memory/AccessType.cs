namespace Hypervisor.BinaryTranslation.Memory;

/// <summary>What an access does, for translation and for the #PF error code (Intel SDM Vol. 3, 4.7).</summary>
public enum AccessType : byte
{
    Read,
    Write,
    Execute,
}
