namespace Hypervisor.Boot.Acpi.Aml;

/// <summary>
/// Builds a ResourceTemplate() buffer from resource descriptors (ACPI 6.x, 6.4 "Resource Data Types for
/// ACPI"): the small IO and IRQ descriptors and the Word/DWord/QWord address space descriptors a host bridge's
/// _CRS uses.
/// </summary>
public sealed class ResourceTemplate
{
    private readonly LittleEndianWriter _bytes = new();

    private enum AddressSpace : byte { Memory = 0, Io = 1, BusNumber = 2 }

    // General flags (6.4.3.5.1): bit 3 _MAF, bit 2 _MIF fixed, bit 1 _DEC = 0 positive decode, bit 0 = 0 producer.
    private const byte ProducerFixedRange = 0x0C;

    /// <summary>IO(Decode16, min, max, alignment, length) (6.4.2.5).</summary>
    public ResourceTemplate Io(ushort minimum, ushort maximum, byte alignment, byte length)
    {
        _bytes.U8(0x47).U8(0x01).U16(minimum).U16(maximum).U8(alignment).U8(length);
        return this;
    }

    /// <summary>IRQNoFlags() { irq }: edge, active high, exclusive (6.4.2.1).</summary>
    public ResourceTemplate IrqNoFlags(int irq)
    {
        if (irq is < 0 or > 15) throw new ArgumentOutOfRangeException(nameof(irq));
        _bytes.U8(0x22).U16(1 << irq);
        return this;
    }

    /// <summary>WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, ...) (6.4.3.5.3).</summary>
    public ResourceTemplate WordBusNumber(ushort minimum, ushort maximum) =>
        Word(AddressSpace.BusNumber, 0, minimum, maximum);

    /// <summary>WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...).</summary>
    public ResourceTemplate WordIo(ushort minimum, ushort maximum) =>
        Word(AddressSpace.Io, 0x03, minimum, maximum);

    /// <summary>DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite, ...).</summary>
    public ResourceTemplate DWordMemory(uint minimum, uint maximum, bool cacheable)
    {
        ulong length = (ulong)maximum - minimum + 1;
        _bytes.U8(0x87).U16(23).U8((int)AddressSpace.Memory).U8(ProducerFixedRange).U8(MemoryFlags(cacheable))
            .U32(0).U32(minimum).U32(maximum).U32(0).U32((uint)length);
        return this;
    }

    /// <summary>QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite, ...).</summary>
    public ResourceTemplate QWordMemory(ulong minimum, ulong maximum, bool cacheable)
    {
        _bytes.U8(0x8A).U16(43).U8((int)AddressSpace.Memory).U8(ProducerFixedRange).U8(MemoryFlags(cacheable))
            .U64(0).U64(minimum).U64(maximum).U64(0).U64(maximum - minimum + 1);
        return this;
    }

    /// <summary>The Buffer term, closed by an End Tag whose zero checksum means "not checked" (6.4.2.9).</summary>
    public byte[] ToAml() => Aml.Buffer([.. _bytes.Written, 0x79, 0x00]);

    private ResourceTemplate Word(AddressSpace space, byte typeFlags, ushort minimum, ushort maximum)
    {
        _bytes.U8(0x88).U16(13).U8((int)space).U8(ProducerFixedRange).U8(typeFlags)
            .U16(0).U16(minimum).U16(maximum).U16(0).U16(maximum - minimum + 1);
        return this;
    }

    /// <summary>Type-specific memory flags (6.4.3.5.5): bit 0 read/write, bits 1-2 cacheable (1) or not (0).</summary>
    private static byte MemoryFlags(bool cacheable) => (byte)(0x01 | (cacheable ? 0x02 : 0x00));
}
