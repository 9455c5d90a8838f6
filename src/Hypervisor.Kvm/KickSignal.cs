using Hypervisor.Kvm.Native;
using Hypervisor.Platform.Native;
using Tmds.Linux;

namespace Hypervisor.Kvm;

/// <summary>
/// How another thread forces a vCPU out of KVM_RUN. api.rst 4.10 (KVM_SET_SIGNAL_MASK) and the kvm_run
/// <c>immediate_exit</c> text describe two ways; hv uses the one that needs no signal handler, because a .NET
/// process cannot run a handler on an arbitrary thread safely (managed code in a signal handler can deadlock
/// against the GC, and there is no native no-op handler to point sigaction at without shipping native code):
/// <list type="bullet">
/// <item>the vCPU thread keeps SIGUSR2 blocked, and KVM_SET_SIGNAL_MASK gives KVM_RUN a mask without it;</item>
/// <item><c>Kick</c> sends SIGUSR2 to that thread with pthread_kill. Inside KVM_RUN the signal is unblocked, so
///   KVM_RUN returns EINTR; back in userspace the thread's own mask blocks it again, so it is never delivered
///   (no handler, no default action) and is consumed with sigtimedwait. A kick that lands just before KVM_RUN
///   stays pending and makes KVM_RUN return at once, so no kick is lost;</item>
/// <item>a kick from the vCPU's own thread (a device inside an I/O exit) only sets <c>immediate_exit</c>,
///   which also completes the pending I/O before returning (api.rst, kvm_run: immediate_exit).</item>
/// </list>
/// This is how QEMU kicked vCPUs (SIG_IPI) before it moved to immediate_exit with a handler.
/// </summary>
internal static unsafe class KickSignal
{
    public static int Number => LibC.SIGUSR2;

    [ThreadStatic] private static bool t_blocked;

    /// <summary>Blocks the kick signal on the calling thread (once per thread).</summary>
    public static void BlockOnCurrentThread()
    {
        if (t_blocked) return;
        sigset_t set;
        LibC.sigemptyset(&set);
        LibC.sigaddset(&set, Number);
        int r = LibC.pthread_sigmask(LibC.SIG_BLOCK, &set, null);
        if (r != 0) throw LinuxError.Exception("pthread_sigmask", r);
        t_blocked = true;
    }

    /// <summary>The calling thread's signal mask without the kick signal, in the kernel's 8-byte sigset form.</summary>
    public static ulong RunMaskForCurrentThread()
    {
        sigset_t current;
        int r = LibC.pthread_sigmask(LibC.SIG_BLOCK, null, &current);
        if (r != 0) throw LinuxError.Exception("pthread_sigmask", r);
        // glibc's sigset_t starts with the kernel's 64-bit mask: bit n-1 is signal n.
        ulong mask = *(ulong*)&current;
        return mask & ~(1UL << (Number - 1));
    }

    /// <summary>Consumes kick signals pending on the calling thread.</summary>
    public static void Drain()
    {
        sigset_t set;
        LibC.sigemptyset(&set);
        LibC.sigaddset(&set, Number);
        var zero = new timespec();
        while (LibC.sigtimedwait(&set, null, &zero) == Number) { }
    }

    /// <summary>Sends the kick to a thread; returns false if the thread is gone.</summary>
    public static bool Send(nuint thread) => NativeThread.Kill(thread, Number) == 0;
}
