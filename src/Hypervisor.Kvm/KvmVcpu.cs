using System.Runtime.InteropServices;
using Hypervisor.Kvm.Native;
using Hypervisor.Platform.Hypervisor;
using Hypervisor.Platform.Native;
using Tmds.Linux;
using static Hypervisor.Kvm.Native.KvmConstants;

namespace Hypervisor.Kvm;

/// <summary>
/// One KVM vCPU. <see cref="Run"/> runs on the calling thread (one thread per vCPU) and answers port and MMIO
/// exits through the VM's I/O handler; it returns only for a kick or a lifecycle event.
/// </summary>
public sealed unsafe partial class KvmVcpu : IVcpu
{
    private readonly KvmVm _vm;
    private readonly object _threadLock = new();
    private int _fd;
    private kvm_run* _run;
    private readonly int _runSize;
    private nuint _runningThread;
    private int _kickRequested;
    private bool _signalMaskSet;
    private readonly bool _hasXsave, _hasXcrs, _hasDebugRegs;

    internal KvmVcpu(KvmVm vm, int index)
    {
        _vm = vm;
        Index = index;
        _fd = KvmNative.Ioctl(vm.Fd, KvmIoctls.KVM_CREATE_VCPU, (ulong)index, $"KVM_CREATE_VCPU {index}");
        try
        {
            _runSize = vm.Hypervisor.VcpuMmapSize;
            _hasXsave = vm.Hypervisor.CheckExtension(KVM_CAP_XSAVE) > 0;
            _hasXcrs = vm.Hypervisor.CheckExtension(KVM_CAP_XCRS) > 0;
            _hasDebugRegs = vm.Hypervisor.CheckExtension(KVM_CAP_DEBUGREGS) > 0;
            void* p = LibC.mmap(null, (size_t)_runSize, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, _fd, 0);
            if (p == (void*)-1) throw LinuxError.Exception($"mmap of kvm_run for vCPU {index}");
            _run = (kvm_run*)p;
            Cpuid = KvmCpuid.ForVcpu(vm.Hypervisor, index, vm.Setup.CpuCount);
            SetCpuid(Cpuid);
            _msrIndices = SelectMsrs();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int Index { get; }

    /// <summary>The CPUID table this vCPU was given (KVM_SET_CPUID2), for diagnostics and tests.</summary>
    public IReadOnlyList<CpuidEntry> Cpuid { get; }

    public VcpuExit Run()
    {
        KickSignal.BlockOnCurrentThread();
        if (!_signalMaskSet) SetRunSignalMask();
        lock (_threadLock)
        {
            if (_runningThread != 0) throw new InvalidOperationException($"vCPU {Index} is already running on another thread");
            _runningThread = NativeThread.Self();
        }
        try
        {
            return RunLoop();
        }
        finally
        {
            lock (_threadLock) _runningThread = 0;
        }
    }

    private VcpuExit RunLoop()
    {
        while (true)
        {
            if (LibC.ioctl(_fd, KvmIoctls.KVM_RUN, 0) < 0)
            {
                int errno = LinuxError.LastErrno;
                if (errno != LibC.EINTR && errno != LibC.EAGAIN)
                    return Fail($"KVM_RUN failed: {LinuxError.Describe(errno)}");
                KickSignal.Drain();
                _run->immediate_exit = 0;
                if (Interlocked.Exchange(ref _kickRequested, 0) != 0) return new VcpuExit(VcpuExitReason.Kicked);
                continue;
            }
            switch (_run->exit_reason)
            {
                case KVM_EXIT_IO:
                    HandlePortIo();
                    break;
                case KVM_EXIT_MMIO:
                    HandleMmio();
                    break;
                case KVM_EXIT_IRQ_WINDOW_OPEN:
                case KVM_EXIT_INTR:
                case KVM_EXIT_IOAPIC_EOI:
                    break;
                case KVM_EXIT_HLT:
                    // With the in-kernel LAPIC KVM waits for interrupts itself (api.rst, KVM_EXIT_HLT); an exit
                    // here means nothing can wake the vCPU.
                    return new VcpuExit(VcpuExitReason.Halted, $"vCPU {Index} halted");
                case KVM_EXIT_SHUTDOWN:
                    return new VcpuExit(VcpuExitReason.Shutdown,
                        $"vCPU {Index}: triple fault (KVM_EXIT_SHUTDOWN): the guest hit an exception while " +
                        $"delivering a double fault\n{DumpRegisters()}{ShutdownStateNote()}");
                case KVM_EXIT_SYSTEM_EVENT:
                    return SystemEvent();
                case KVM_EXIT_FAIL_ENTRY:
                    return Fail($"VM entry failed (KVM_EXIT_FAIL_ENTRY): hardware entry failure reason " +
                                $"0x{_run->fail_entry.hardware_entry_failure_reason:x} on host CPU {_run->fail_entry.cpu}");
                case KVM_EXIT_INTERNAL_ERROR:
                    return Fail(DescribeInternalError());
                case KVM_EXIT_UNKNOWN:
                    return Fail($"unknown exit (KVM_EXIT_UNKNOWN): hardware exit reason 0x{_run->hw.hardware_exit_reason:x}");
                case KVM_EXIT_EXCEPTION:
                    return Fail($"unhandled exception (KVM_EXIT_EXCEPTION): vector {_run->ex.exception}, " +
                                $"error code 0x{_run->ex.error_code:x}");
                default:
                    return Fail($"unexpected KVM exit reason {_run->exit_reason}");
            }
        }
    }

    private void HandlePortIo()
    {
        ref var io = ref _run->io;
        int size = io.size;
        byte* data = (byte*)_run + io.data_offset;
        if (io.data_offset + (ulong)(size * io.count) > (ulong)_runSize)
            throw new InvalidOperationException($"KVM_EXIT_IO data at {io.data_offset} lies outside kvm_run");
        // String I/O (INS/OUTS with REP) arrives as count back-to-back elements (api.rst, KVM_EXIT_IO).
        for (uint i = 0; i < io.count; i++)
        {
            var element = new Span<byte>(data + i * size, size);
            if (io.direction == KVM_EXIT_IO_OUT) _vm.Io.PortWrite(io.port, element);
            else _vm.Io.PortRead(io.port, element);
        }
    }

    private void HandleMmio()
    {
        ref var mmio = ref _run->mmio;
        int length = (int)Math.Min(mmio.len, 8u);
        fixed (byte* data = mmio.data)
        {
            var span = new Span<byte>(data, length);
            if (mmio.is_write != 0) _vm.Io.MmioWrite(mmio.phys_addr, span);
            else _vm.Io.MmioRead(mmio.phys_addr, span);
        }
    }

    private VcpuExit SystemEvent()
    {
        uint type = _run->system_event.type;
        return type switch
        {
            KVM_SYSTEM_EVENT_SHUTDOWN => new VcpuExit(VcpuExitReason.PowerOff, $"vCPU {Index}: guest powered off"),
            KVM_SYSTEM_EVENT_RESET => new VcpuExit(VcpuExitReason.Reset, $"vCPU {Index}: guest requested reset"),
            KVM_SYSTEM_EVENT_CRASH => Fail("the guest reported a crash (KVM_SYSTEM_EVENT_CRASH)"),
            _ => Fail($"unexpected KVM system event {type}"),
        };
    }

    private string DescribeInternalError()
    {
        ref var e = ref _run->@internal;
        string kind = e.suberror switch
        {
            KVM_INTERNAL_ERROR_EMULATION => "instruction emulation failed",
            KVM_INTERNAL_ERROR_SIMUL_EX => "exception while delivering an exception",
            KVM_INTERNAL_ERROR_DELIVERY_EV => "event delivery failed (e.g. an MMIO IDT or GDT)",
            KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON => "unexpected hardware exit reason",
            _ => $"suberror {e.suberror}",
        };
        var words = new List<string>();
        for (int i = 0; i < Math.Min(e.ndata, 16u); i++) words.Add($"0x{e.data[i]:x}");
        return $"KVM internal error: {kind}" + (words.Count > 0 ? $" (data {string.Join(' ', words)})" : "");
    }

    /// <summary>
    /// On AMD, KVM INITs the vCPU when it intercepts SHUTDOWN because the VMCB is undefined afterwards
    /// (arch/x86/kvm/svm/svm.c, shutdown_interception), so the dump shows the INIT state; say so rather than
    /// let a reader hunt for a fault at F000:FFF0.
    /// </summary>
    private string ShutdownStateNote()
    {
        kvm_regs r = default;
        kvm_sregs sr = default;
        if (LibC.ioctl(_fd, KvmIoctls.KVM_GET_REGS, &r) < 0 || LibC.ioctl(_fd, KvmIoctls.KVM_GET_SREGS, &sr) < 0)
            return "";
        return r.rip == 0xFFF0 && sr.cs.@base == 0xFFFF_0000
            ? "\n(the host CPU is AMD: KVM re-initialised the vCPU at the shutdown, so these are INIT-state " +
              "registers, not those of the faulting instruction)"
            : "";
    }

    private VcpuExit Fail(string message) =>
        new(VcpuExitReason.InternalError, $"vCPU {Index}: {message}\n{DumpRegisters()}");

    public void Kick()
    {
        Interlocked.Exchange(ref _kickRequested, 1);
        lock (_threadLock)
        {
            if (_run == null) return;
            _run->immediate_exit = 1;
            // The thread is only signalled while it is inside Run, so it exists; its own kicks need no signal.
            if (_runningThread != 0 && _runningThread != NativeThread.Self()) KickSignal.Send(_runningThread);
        }
    }

    private void SetRunSignalMask()
    {
        const int kernelSigsetBytes = 8;
        byte* buffer = stackalloc byte[sizeof(kvm_signal_mask) + kernelSigsetBytes];
        ((kvm_signal_mask*)buffer)->len = kernelSigsetBytes;
        *(ulong*)(buffer + sizeof(kvm_signal_mask)) = KickSignal.RunMaskForCurrentThread();
        KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_SIGNAL_MASK, buffer, "KVM_SET_SIGNAL_MASK");
        _signalMaskSet = true;
    }

    private void SetCpuid(IReadOnlyList<CpuidEntry> entries)
    {
        int bytes = sizeof(kvm_cpuid2) + entries.Count * sizeof(kvm_cpuid_entry2);
        var table = (kvm_cpuid2*)NativeMemory.AllocZeroed((nuint)bytes);
        try
        {
            table->nent = (uint)entries.Count;
            var dst = (kvm_cpuid_entry2*)(table + 1);
            for (int i = 0; i < entries.Count; i++) dst[i] = entries[i].ToNative();
            KvmNative.Ioctl(_fd, KvmIoctls.KVM_SET_CPUID2, table, $"KVM_SET_CPUID2 for vCPU {Index}");
        }
        finally
        {
            NativeMemory.Free(table);
        }
    }

    public void Dispose()
    {
        lock (_threadLock)
        {
            if (_run != null) LibC.munmap(_run, (size_t)_runSize);
            _run = null;
        }
        KvmNative.Close(ref _fd);
    }
}
