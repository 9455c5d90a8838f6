using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Hypervisor.Kvm.Tests")]
