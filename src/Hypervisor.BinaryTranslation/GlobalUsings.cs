global using unsafe OpHandler = delegate*<Hypervisor.BinaryTranslation.State.CpuContext, ref Hypervisor.BinaryTranslation.Decoding.Op, bool>;
