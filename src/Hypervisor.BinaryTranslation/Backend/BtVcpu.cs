using Hypervisor.BinaryTranslation.Execution;
using Hypervisor.BinaryTranslation.Flags;
using Hypervisor.BinaryTranslation.State;
using Hypervisor.BinaryTranslation.System;
using Hypervisor.Platform.Cpu;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Interrupts;

namespace Hypervisor.BinaryTranslation.Backend;

/// <summary>
/// One interpreted vCPU. <see cref="Run"/> is the CPU's outer loop: INIT and SIPI, then NMI and INTR at the
/// block boundary where they can be taken, then a slice of guest code under the VM's execution lock, then the
/// exception, HLT or stop that ended it. Nothing the guest does makes it throw.
/// </summary>
public sealed class BtVcpu : IVcpu
{
    /// <summary>How long a halted vCPU sleeps before it looks again without being woken (a safety net only).</summary>
    private static readonly TimeSpan IdleRecheck = TimeSpan.FromMilliseconds(100);

    private readonly BtVm _vm;
    private readonly ICpuInterruptPort _port;
    private readonly CpuContext _cpu;
    private readonly Interpreter _interpreter;
    private readonly TextWriter _trace;
    private readonly BtTraceEvents _traceEvents;
    private int _kickRequested;
    private int _running;
    private bool _halted;
    private bool _pendingNmi;
    private PendingException? _pendingException;
    private byte? _pendingInterrupt;
    private volatile bool _haltedWithInterruptsDisabled;
    private volatile bool _waitingForTurn;

    internal BtVcpu(BtVm vm, int index)
    {
        _vm = vm;
        Index = index;
        _port = vm.IrqChip.PortFor(index);
        _cpu = new CpuContext(vm.Memory)
        {
            LocalApic = new LocalApicAccess(_port.Lapic, RequestInterruptCheck),
            Tsc = vm.IrqChip.Tsc,
            TscFrequency = (ulong)vm.IrqChip.Tsc.FrequencyHz,
            // CPUID reports the APIC ID the firmware tables give this vCPU (its index) and its own package.
            Cpuid = new Instructions.CpuidModel { ApicId = (uint)index, CpuCount = vm.Setup.CpuCount },
        };
        // A guest spinning with PAUSE waits for another vCPU: RunSlice hands the turn over (QEMU TCG's helper_pause).
        _interpreter = new Interpreter(_cpu) { YieldOnPause = true };
        _traceEvents = vm.Options.Trace;
        _trace = vm.Options.TraceWriter ?? Console.Error;
        _port.Wakeup += RequestInterruptCheck;
        // An AP starts in wait-for-SIPI (its LAPIC says so); the BSP's state comes from SetState.
        var reset = CpuState.CreateReset(_cpu.Cpuid.Signature);
        if (_port.IsWaitingForSipi) reset.RunState = RunState.WaitForSipi;
        _cpu.Load(reset);
    }

    public int Index { get; }

    /// <summary>The engine state, for tests and diagnostics (only while the vCPU is not running).</summary>
    public CpuContext Context => _cpu;

    internal bool IsHaltedWithInterruptsDisabled => _haltedWithInterruptsDisabled;

    // What the profiler samples from its own thread (racy by design).
    internal bool IsRunning => Volatile.Read(ref _running) != 0;
    internal bool IsHaltedForProfile => _halted || _port.IsWaitingForSipi;
    internal bool IsWaitingForTurn => _waitingForTurn;
    internal ulong CodeAddressForProfile => _cpu.CodeLinear;

    public VcpuExit Run()
    {
        if (Interlocked.Exchange(ref _running, 1) != 0)
            throw new InvalidOperationException($"vCPU {Index} is already running on another thread");
        try
        {
            return RunLoop();
        }
        catch (Exception e)
        {
            // A bug in the engine, never something the guest may cause: end this VM with what is known.
            return new VcpuExit(VcpuExitReason.InternalError,
                $"vCPU {Index}: internal error in the BT engine: {e.GetType().Name}: {e.Message}\n{SafeDump()}\n{e.StackTrace}");
        }
        finally
        {
            _haltedWithInterruptsDisabled = false;
            Volatile.Write(ref _running, 0);
        }
    }

    private VcpuExit RunLoop()
    {
        while (true)
        {
            if (Interlocked.Exchange(ref _kickRequested, 0) != 0) return new VcpuExit(VcpuExitReason.Kicked);

            if (_port.TakeInit()) Init();
            if (_port.IsWaitingForSipi)
            {
                if (_port.TakeSipi() is int vector)
                {
                    StartUp(vector);
                }
                else
                {
                    _port.WaitForEvent(interruptsEnabled: false, IdleRecheck);
                    continue;
                }
            }

            if (_halted && !Wakes())
            {
                bool interruptsEnabled = (_cpu.Rflags & FlagBits.IF) != 0;
                if (!interruptsEnabled)
                {
                    _haltedWithInterruptsDisabled = true;
                    if (!_vm.AnotherVcpuCanWake(Index))
                        return new VcpuExit(VcpuExitReason.Halted,
                            $"vCPU {Index} halted with interrupts disabled\n{SafeDump()}");
                }
                _port.WaitForEvent(interruptsEnabled, IdleRecheck);
                continue;
            }
            _haltedWithInterruptsDisabled = false;
            if (_halted)
            {
                _halted = false;
                Trace(BtTraceEvents.Halt, "wakes from HLT");
            }

            var exit = RunSlice();
            if (exit is { } stop) return stop;
        }
    }

    /// <summary>A halted CPU resumes for NMI, INIT, SMI (none here), and INTR when IF = 1 (SDM Vol. 2A HLT).</summary>
    private bool Wakes() =>
        _port.HasPendingSpecialEvent || _pendingNmi || _pendingInterrupt.HasValue
        || ((_cpu.Rflags & FlagBits.IF) != 0 && _port.HasPendingInterrupt);

    /// <summary>
    /// Runs guest code under the execution lock until the slice is used up (and another vCPU wants a turn), the
    /// CPU halts, an INIT/SIPI needs the outer loop, or the VMM kicks. Returns an exit only for the machine.
    /// </summary>
    private VcpuExit? RunSlice()
    {
        var gate = _vm.ExecutionLock;
        _waitingForTurn = true;
        gate.Enter();
        _waitingForTurn = false;
        try
        {
            long sliceEnd = _cpu.InstructionsRetired + _vm.Options.SliceInstructions;
            while (true)
            {
                if (Volatile.Read(ref _kickRequested) != 0) return null;
                if (_port.TakeInit())
                {
                    Init();
                    if (_port.IsWaitingForSipi) return null;
                }

                InjectEvents();
                if (_cpu.ShutdownPending) return Shutdown();

                long budget = sliceEnd - _cpu.InstructionsRetired;
                if (budget <= 0)
                {
                    if (gate.HasWaiters) return null;
                    sliceEnd = _cpu.InstructionsRetired + _vm.Options.SliceInstructions;
                    budget = _vm.Options.SliceInstructions;
                }

                var result = _interpreter.Run(budget);
                _interpreter.StopWhenInterruptible = false;
                switch (result)
                {
                    case RunExit.Exception:
                        DeliverException();
                        if (_cpu.ShutdownPending) return Shutdown();
                        break;
                    case RunExit.Halted:
                        // HLT retired: the shadow of an STI right before it has expired, and the CPU sleeps.
                        _cpu.InterruptShadow = false;
                        _halted = true;
                        Trace(BtTraceEvents.Halt, "HLT");
                        return null;
                    case RunExit.Yielded:
                        // A spin-wait: the vCPU it waits for may be the one waiting for this turn. Alone, run on.
                        if (gate.HasWaiters) return null;
                        break;
                    case RunExit.Stopped:
                    case RunExit.BudgetExhausted:
                        break;
                }
            }
        }
        finally
        {
            gate.Exit();
        }
    }

    /// <summary>
    /// NMI, then INTR, at this instruction boundary (SDM Vol. 3, 6.9: NMI outranks maskable interrupts). An
    /// interrupt that cannot be taken yet arms the interpreter to stop when it can: at IF = 1, or after the one
    /// instruction an STI or MOV SS shadow protects.
    /// </summary>
    private void InjectEvents()
    {
        // Events a restored state had accepted but not yet delivered (KVM's injected exception/interrupt).
        if (_pendingException is { } exception)
        {
            _pendingException = null;
            _cpu.Exception = exception;
            DeliverException();
            return;
        }
        if (_pendingInterrupt is { } injected)
        {
            _pendingInterrupt = null;
            Trace(BtTraceEvents.Interrupts, $"interrupt vector 0x{injected:x2} (restored)");
            InterruptDelivery.DeliverExternalInterrupt(_cpu, injected);
            return;
        }

        // An NMI stays latched while an NMI handler runs (until its IRET, SDM Vol. 3, 6.7.1).
        if (_port.TakeNmi()) _pendingNmi = true;
        if (_pendingNmi && !_cpu.NmiBlocked)
        {
            if (!ShadowPasses()) return;
            _pendingNmi = false;
            Trace(BtTraceEvents.Interrupts, "NMI");
            InterruptDelivery.DeliverNmi(_cpu);
            return;
        }

        if (!_port.HasPendingInterrupt) return;
        if ((_cpu.Rflags & FlagBits.IF) == 0)
        {
            _interpreter.StopWhenInterruptible = true;
            return;
        }
        if (!ShadowPasses()) return;
        // The instruction in the shadow may have cleared IF or raised the task priority.
        if (!_port.HasPendingInterrupt) return;
        if ((_cpu.Rflags & FlagBits.IF) == 0)
        {
            _interpreter.StopWhenInterruptible = true;
            return;
        }
        int vector = _port.AcknowledgeInterrupt();
        Trace(BtTraceEvents.Interrupts, $"interrupt vector 0x{vector:x2} at " +
                                        $"{_cpu.Segments[(int)SegmentIndex.Cs].Selector:x4}:{_cpu.Rip:x}");
        InterruptDelivery.DeliverExternalInterrupt(_cpu, (byte)vector);
    }

    /// <summary>
    /// Runs the one instruction an interrupt shadow protects (SDM Vol. 3, 6.8.3), so the event is taken after it.
    /// Returns false when that instruction faulted or halted and the caller must look again.
    /// </summary>
    private bool ShadowPasses()
    {
        if (!_cpu.InterruptShadow) return true;
        _interpreter.SingleStep = true;
        RunExit result;
        try
        {
            result = _interpreter.Run(1);
        }
        finally
        {
            _interpreter.SingleStep = false;
        }
        _cpu.InterruptShadow = false;
        switch (result)
        {
            case RunExit.Exception:
                DeliverException();
                return false;
            case RunExit.Halted:
                _halted = true;
                return false;
            default:
                return true;
        }
    }

    private void DeliverException()
    {
        if ((_traceEvents & BtTraceEvents.Exceptions) != 0)
            Trace(BtTraceEvents.Exceptions, $"exception {BtTrace.Describe(_cpu.Exception)} at " +
                                            $"{_cpu.Segments[(int)SegmentIndex.Cs].Selector:x4}:{_cpu.Rip:x}");
        _cpu.InterruptShadow = false;
        InterruptDelivery.DeliverException(_cpu);
    }

    private VcpuExit Shutdown() =>
        new(VcpuExitReason.Shutdown,
            $"vCPU {Index}: triple fault: the guest hit an exception while delivering a double fault " +
            $"(last: {BtTrace.Describe(_cpu.Exception)})\n{SafeDump()}");

    /// <summary>
    /// INIT (SDM Vol. 3, Table 10-1, <see cref="CpuState.CreateInit"/>): the registers to their RESET values, EDX
    /// the CPUID signature, while x87/SSE state, CR0.CD/NW and the MSRs survive; the LAPIC already did its part.
    /// An AP then waits for SIPI; the BSP restarts at the reset vector, as KVM does.
    /// </summary>
    private void Init()
    {
        Trace(BtTraceEvents.Halt, "INIT");
        var s = CpuState.CreateInit(_cpu.Save(), _cpu.Cpuid.Signature);
        LoadCpu(s);
        _halted = false;
        _cpu.NmiBlocked = false;
    }

    /// <summary>SIPI (SDM Vol. 3, 10.4.4): real mode at vector:0000 (CS = vector &lt;&lt; 8, base vector &lt;&lt; 12).</summary>
    private void StartUp(int vector)
    {
        Trace(BtTraceEvents.Halt, $"SIPI vector 0x{vector:x2}");
        var s = _cpu.Save();
        s.Cs = SegmentRegister.RealMode((ushort)(vector << 8), code: true);
        s.Rip = 0;
        s.RunState = RunState.Runnable;
        LoadCpu(s);
        _halted = false;
    }

    private void LoadCpu(CpuState s)
    {
        _cpu.Load(s);
        _cpu.FlushTlb();
        _cpu.InterruptShadow = false;
        _cpu.ShutdownPending = false;
    }

    /// <summary>Called from any thread when an interrupt may have become deliverable: look at the next block boundary.</summary>
    internal void RequestInterruptCheck() => _interpreter.RequestStop();

    public void Kick()
    {
        Interlocked.Exchange(ref _kickRequested, 1);
        _interpreter.RequestStop();
        _port.Kick();
    }

    public CpuState GetState()
    {
        var s = _cpu.Save();
        _port.Lapic.SaveState(s);
        s.Cr8 = _port.Lapic.Cr8;
        s.Events.InterruptShadow = _cpu.InterruptShadow;
        s.Events.NmiMasked = _cpu.NmiBlocked;
        if (_pendingNmi) s.Events.NmiPending = true;
        if (_pendingException is { } e)
        {
            s.Events.ExceptionPending = true;
            s.Events.ExceptionVector = e.Vector;
            s.Events.ExceptionHasErrorCode = e.HasErrorCode;
            s.Events.ExceptionErrorCode = e.ErrorCode;
        }
        if (_pendingInterrupt is { } vector)
        {
            s.Events.InterruptPending = true;
            s.Events.InterruptVector = vector;
        }
        if (s.RunState != RunState.WaitForSipi) s.RunState = _halted ? RunState.Halted : RunState.Runnable;
        return s;
    }

    /// <summary>
    /// Loads a complete state. A LAPIC page that is all zeros (a boot loader's entry state built by hand) is not
    /// applied, as the KVM backend does: the APIC keeps its reset state (with the BSP's LINT0 in ExtINT), and
    /// only CR8 is taken from the state.
    /// </summary>
    public void SetState(CpuState state)
    {
        if (Volatile.Read(ref _running) != 0)
            throw new InvalidOperationException($"vCPU {Index} is running: stop it before setting its state");
        LoadCpu(state);
        if (HasLapicState(state)) _port.Lapic.RestoreState(state);
        else _port.Lapic.Cr8 = state.Cr8;
        _cpu.InterruptShadow = state.Events.InterruptShadow;
        _cpu.NmiBlocked = state.Events.NmiMasked;
        _halted = state.RunState == RunState.Halted;
        _pendingNmi = state.Events.NmiPending;
        _pendingException = state.Events.ExceptionPending
            ? new PendingException
            {
                Vector = state.Events.ExceptionVector,
                HasErrorCode = state.Events.ExceptionHasErrorCode,
                ErrorCode = state.Events.ExceptionErrorCode,
                FaultAddress = state.Cr2,
            }
            : null;
        _pendingInterrupt = state.Events.InterruptPending ? state.Events.InterruptVector : null;
    }

    /// <summary>Every local APIC has a non-zero version register (offset 0x30, SDM Vol. 3, 11.4.8).</summary>
    private static bool HasLapicState(CpuState s) => BitConverter.ToUInt32(s.LapicRegisters, 0x30) != 0;

    private string SafeDump()
    {
        try
        {
            return BtTrace.DumpRegisters(_cpu.Save());
        }
        catch (Exception e)
        {
            return $"(registers unavailable: {e.Message})";
        }
    }

    private void Trace(BtTraceEvents kind, string message)
    {
        if ((_traceEvents & kind) == 0) return;
        lock (_trace) _trace.WriteLine($"hv-bt: cpu{Index} {message}");
    }

    public void Dispose() => _port.Wakeup -= RequestInterruptCheck;
}
