namespace Hypervisor.Kvm.Native;

/// <summary>
/// Names the C type a marshalled struct mirrors, so the layout test can compile <c>sizeof</c>/<c>offsetof</c>
/// against the kernel's own header instead of trusting hand-copied offsets.
/// </summary>
[AttributeUsage(AttributeTargets.Struct)]
internal sealed class CStructAttribute(string cType) : Attribute
{
    /// <summary>A C type expression: <c>struct kvm_regs</c> or <c>__typeof__(((struct kvm_run*)0)->io)</c>.</summary>
    public string CType { get; } = cType;
}

/// <summary>The C member designator of a field whose C# name cannot be the C one (a member of a nested anonymous struct).</summary>
[AttributeUsage(AttributeTargets.Field)]
internal sealed class CFieldAttribute(string designator) : Attribute
{
    public string Designator { get; } = designator;
}
