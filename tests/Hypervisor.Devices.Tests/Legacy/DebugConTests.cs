using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Io;

namespace Hypervisor.Devices.Tests.Legacy;

public class DebugConTests
{
    [Fact]
    public void BytesWrittenToPort402AreTheLogAndReadsAnswerE9()
    {
        var bus = new PortIoBus();
        var output = new MemoryStream();
        using var con = new DebugCon(output);
        con.RegisterPorts(bus);
        foreach (byte b in "SeaBIOS\n"u8) bus.Out8(0x402, b);
        Assert.Equal("SeaBIOS\n"u8.ToArray(), output.ToArray());
        Assert.Equal(0xE9, bus.In8(0x402));
    }

    [Fact]
    public void WithoutAnOutputWritesAreDropped()
    {
        var bus = new PortIoBus();
        new DebugCon(null).RegisterPorts(bus);
        bus.Out8(0x402, (byte)'x');
        Assert.Equal(0xE9, bus.In8(0x402));
    }
}
