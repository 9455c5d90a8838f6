using Hypervisor.Devices.Legacy;
using Hypervisor.Devices.Tests.Fakes;
using Hypervisor.Platform.Io;
using Hypervisor.Platform.Lifecycle;

namespace Hypervisor.Devices.Tests.Legacy;

public class I8042Tests
{
    private readonly RecordingInterruptController _irq = new();
    private readonly RecordingVmControl _vm = new();
    private readonly A20Gate _a20 = new();
    private readonly PortIoBus _bus = new();
    private readonly I8042 _kbc;

    public I8042Tests()
    {
        _kbc = new I8042(_irq, _vm, _a20);
        _kbc.RegisterPorts(_bus);
    }

    private byte Status => _bus.In8(0x64);

    private byte Command(byte command)
    {
        _bus.Out8(0x64, command);
        Assert.Equal(0x01, Status & 0x01);
        return _bus.In8(0x60);
    }

    [Fact]
    public void SelfTestAnswers55AndSetsTheSystemFlag()
    {
        Assert.Equal(0, Status & 0x04);
        Assert.Equal(0x55, Command(0xAA));
        Assert.Equal(0x04, Status & 0x04);
        Assert.Equal(0, Status & 0x01);
    }

    [Fact]
    public void InterfaceTestsReportNoError()
    {
        Assert.Equal(0x00, Command(0xAB));
        Assert.Equal(0x00, Command(0xA9));
    }

    [Fact]
    public void StatusBit3TellsWhetherTheLastWriteWentToTheCommandPort()
    {
        _bus.Out8(0x64, 0xAE);
        Assert.Equal(0x08, Status & 0x08);
        _bus.Out8(0x60, 0xF4);
        Assert.Equal(0x00, Status & 0x08);
    }

    [Fact]
    public void CommandByteCanBeReadAndWritten()
    {
        Assert.Equal(0x43, Command(0x20)); // IRQ1 and IRQ12 enabled, translation on
        _bus.Out8(0x64, 0x60);
        _bus.Out8(0x60, 0x65);
        Assert.Equal(0x65, Command(0x20));
        Assert.Equal(0x04, Status & 0x04); // system flag follows command byte bit 2
    }

    [Fact]
    public void ControllerRamBeyondTheCommandByte()
    {
        _bus.Out8(0x64, 0x65);
        _bus.Out8(0x60, 0x3C);
        Assert.Equal(0x3C, Command(0x25));
    }

    [Fact]
    public void OutputPortWriteControlsA20()
    {
        var changes = new List<bool>();
        _a20.Changed += changes.Add;
        Assert.True(_a20.Enabled); // port 2 latches ones at reset
        _bus.Out8(0x64, 0xD1);
        _bus.Out8(0x60, 0xDD);
        Assert.False(_a20.Enabled);
        Assert.Equal(~(1UL << 20), _a20.AddressMask);
        Assert.Equal(0, Command(0xD0) & 0x02);
        _bus.Out8(0x64, 0xD1);
        _bus.Out8(0x60, 0xDF);
        Assert.True(_a20.Enabled);
        Assert.Equal(0x02, Command(0xD0) & 0x02);
        Assert.Equal([false, true], changes);
        Assert.Empty(_vm.Requests);
    }

    [Fact]
    public void A20CommandsDDAndDF()
    {
        _bus.Out8(0x64, 0xDD);
        Assert.False(_a20.Enabled);
        _bus.Out8(0x64, 0xDF);
        Assert.True(_a20.Enabled);
    }

    [Fact]
    public void PulseResetCommandResetsTheMachine()
    {
        _bus.Out8(0x64, 0xFF); // pulses nothing
        Assert.Empty(_vm.Requests);
        _bus.Out8(0x64, 0xFE);
        Assert.Equal(VmStopReason.Reset, Assert.Single(_vm.Requests).Reason);
    }

    [Fact]
    public void ClearingOutputPortBit0ResetsTheMachine()
    {
        _bus.Out8(0x64, 0xD1);
        _bus.Out8(0x60, 0xDE);
        Assert.Equal(VmStopReason.Reset, Assert.Single(_vm.Requests).Reason);
    }

    [Fact]
    public void KeyboardResetAnswersAckThenSelfTestPassedWithIrq1PerByte()
    {
        _bus.Out8(0x60, 0xFF);
        Assert.True(_irq.Level(1));
        Assert.Equal(0x01, Status & 0x21);
        Assert.Equal(0xFA, _bus.In8(0x60));
        Assert.True(_irq.Level(1)); // the next byte is already there...
        Assert.Equal(2, _irq.RisingEdges(1)); // ...with a new edge
        Assert.Equal(0xAA, _bus.In8(0x60));
        Assert.False(_irq.Level(1));
        Assert.Equal(0, Status & 0x01);
    }

    [Fact]
    public void KeyboardIdentifiesAsMf2AndAcknowledgesParameterCommands()
    {
        _bus.Out8(0x60, 0xF2);
        Assert.Equal(0xFA, _bus.In8(0x60));
        Assert.Equal(0xAB, _bus.In8(0x60));
        Assert.Equal(0x83, _bus.In8(0x60));
        _bus.Out8(0x60, 0xED);
        Assert.Equal(0xFA, _bus.In8(0x60));
        _bus.Out8(0x60, 0x07);
        Assert.Equal(0xFA, _bus.In8(0x60));
        _bus.Out8(0x60, 0xF0);
        _bus.In8(0x60);
        _bus.Out8(0x60, 0x00);
        Assert.Equal(0xFA, _bus.In8(0x60));
        Assert.Equal(0x02, _bus.In8(0x60)); // scan code set 2
        _bus.Out8(0x60, 0xEE);
        Assert.Equal(0xEE, _bus.In8(0x60));
        _bus.Out8(0x60, 0x12); // not a command
        Assert.Equal(0xFE, _bus.In8(0x60));
    }

    [Fact]
    public void Irq1IsGatedByCommandByteBit0()
    {
        _bus.Out8(0x64, 0x60);
        _bus.Out8(0x60, 0x00);
        _bus.Out8(0x60, 0xF4);
        Assert.False(_irq.Level(1));
        Assert.Equal(0x01, Status & 0x01);
        _bus.Out8(0x64, 0x60);
        _bus.Out8(0x60, 0x01);
        Assert.True(_irq.Level(1));
    }

    [Fact]
    public void DisabledKeyboardHoldsItsBytesUntilEnabled()
    {
        _bus.Out8(0x64, 0xAD);
        _bus.Out8(0x60, 0xF4);
        Assert.Equal(0, Status & 0x01);
        Assert.Equal(0x53, Command(0x20)); // bit 4 set
        _bus.Out8(0x64, 0xAE);
        Assert.Equal(0xFA, _bus.In8(0x60));
    }

    [Fact]
    public void WriteKeyboardAndAuxOutputBufferEchoWithTheirSource()
    {
        _bus.Out8(0x64, 0xD2);
        _bus.Out8(0x60, 0x1C);
        Assert.Equal(0x01, Status & 0x21);
        Assert.True(_irq.Level(1));
        Assert.Equal(0x1C, _bus.In8(0x60));
        _bus.Out8(0x64, 0xD3);
        _bus.Out8(0x60, 0x5A);
        Assert.Equal(0x21, Status & 0x21);
        Assert.True(_irq.Level(12));
        Assert.Equal(0x5A, _bus.In8(0x60));
        Assert.False(_irq.Level(12));
    }

    [Fact]
    public void AuxDeviceWriteWithoutAMouseTimesOut()
    {
        _bus.Out8(0x64, 0xD4);
        _bus.Out8(0x60, 0xFF);
        Assert.Equal(0x61, Status & 0x61); // output full, aux data, timeout
        Assert.Equal(0xFE, _bus.In8(0x60));
        Assert.Equal(0, Status & 0x40);
    }

    [Fact]
    public void AuxEnableAndDisableFlipCommandByteBit5()
    {
        _bus.Out8(0x64, 0xA7);
        Assert.Equal(0x20, Command(0x20) & 0x20);
        _bus.Out8(0x64, 0xA8);
        Assert.Equal(0x00, Command(0x20) & 0x20);
    }

    [Fact]
    public void OutputPortReportsTheOutputBufferLines()
    {
        _bus.Out8(0x64, 0xD0);
        Assert.Equal(0x00, _bus.In8(0x60) & 0x30); // buffer was empty when the port was read
        _bus.Out8(0x64, 0xD2);
        _bus.Out8(0x60, 0x1C); // keyboard byte in the output buffer
        _bus.Out8(0x64, 0xD0);
        Assert.Equal(0x1C, _bus.In8(0x60));
        Assert.Equal(0x10, _bus.In8(0x60) & 0x30);
    }
}

public class SystemControlPortATests
{
    private readonly RecordingVmControl _vm = new();
    private readonly A20Gate _a20 = new();
    private readonly PortIoBus _bus = new();

    public SystemControlPortATests()
    {
        new SystemControlPortA(_vm, _a20).RegisterPorts(_bus);
        // The keyboard controller's A20 is off so that only port 0x92 drives the gate here.
        new I8042(new RecordingInterruptController(), _vm, _a20).RegisterPorts(_bus);
        _bus.Out8(0x64, 0xDD);
    }

    [Fact]
    public void Bit1IsFastA20()
    {
        Assert.False(_a20.Enabled);
        _bus.Out8(0x92, 0x02);
        Assert.True(_a20.Enabled);
        Assert.Equal(0x02, _bus.In8(0x92));
        _bus.Out8(0x92, 0x00);
        Assert.False(_a20.Enabled);
    }

    [Fact]
    public void A20IsTheOrOfBothSources()
    {
        _bus.Out8(0x92, 0x02);
        _bus.Out8(0x64, 0xDF);
        _bus.Out8(0x92, 0x00);
        Assert.True(_a20.Enabled);
    }

    [Fact]
    public void Bit0RisingEdgeResets()
    {
        _bus.Out8(0x92, 0x03);
        Assert.Equal(VmStopReason.Reset, Assert.Single(_vm.Requests).Reason);
        _bus.Out8(0x92, 0x03); // already 1: no edge
        Assert.Single(_vm.Requests);
    }
}

public class PostCodePortTests
{
    [Fact]
    public void RecordsTheLastCode()
    {
        var bus = new PortIoBus();
        var post = new PostCodePort();
        post.RegisterPorts(bus);
        var seen = new List<byte>();
        post.CodeWritten += seen.Add;
        Assert.Null(post.LastCode);
        bus.Out8(0x80, 0x12);
        bus.Out8(0x80, 0x34);
        Assert.Equal((byte)0x34, post.LastCode);
        Assert.Equal([0x12, 0x34], seen);
        Assert.Equal(0x34, bus.In8(0x80));
    }
}

public class DebugExitTests
{
    [Theory]
    [InlineData(1, 0x10u, 0x21)]
    [InlineData(2, 0x0100u, 0x201)]
    [InlineData(4, 0x0001_0000u, 0x2_0001)]
    [InlineData(1, 0u, 1)]
    public void WriteOfVExitsWithStatusVShiftedLeftOrOne(int size, uint value, int status)
    {
        var vm = new RecordingVmControl();
        var bus = new PortIoBus();
        new DebugExit(vm).RegisterPorts(bus);
        bus.Write(0xF4, BitConverter.GetBytes(value).AsSpan(0, size));
        var request = Assert.Single(vm.Requests);
        Assert.Equal(VmStopReason.DebugExit, request.Reason);
        Assert.Equal(status, request.ExitStatus);
    }
}
