using global::System.Diagnostics;
using global::System.Runtime.CompilerServices;
using global::System.Runtime.InteropServices;
using Hypervisor.BinaryTranslation.X87;

namespace Hypervisor.BinaryTranslation.Tests.X87;

/// <summary>
/// The host x87 as the oracle (design/TESTING.md §1): compiles x87_oracle.c with gcc into a shared library once
/// per test process and calls its entry points through function pointers.
/// </summary>
internal static unsafe class HostX87
{
    private static readonly Lazy<IntPtr> Library = new(Build);

    /// <summary>Status bits the comparison looks at: exceptions + C0..C3 (TOP, B, ES and SF are stack/summary state).</summary>
    public const ushort ComparedStatus = 0x473F;

    private static string SourcePath([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "x87_oracle.c");

    private static IntPtr Build()
    {
        string source = SourcePath();
        if (!File.Exists(source))
            throw new FileNotFoundException("x87 oracle source not found (tests must run from a checkout)", source);
        string dir = Path.Combine(Path.GetTempPath(), $"hv-x87-oracle-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        string lib = Path.Combine(dir, "libx87oracle.so");
        var psi = new ProcessStartInfo("gcc", ["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", lib, source])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start gcc");
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"gcc failed ({p.ExitCode}): {err}");
        return NativeLibrary.Load(lib);
    }

    private static IntPtr Sym(string name) => NativeLibrary.GetExport(Library.Value, name);

    public static ushort Binary(string op, Float80 a, Float80 b, ushort cw, out Float80 result)
    {
        var f = (delegate* unmanaged<Float80*, Float80*, ushort, Float80*, ushort>)Sym("x87_" + op);
        Float80 r;
        ushort sw = f(&a, &b, cw, &r);
        result = r;
        return sw;
    }

    public static ushort Memory(string op, Float80 a, ulong operand, ushort cw, out Float80 result)
    {
        var f = (delegate* unmanaged<Float80*, ulong*, ushort, Float80*, ushort>)Sym("x87_" + op);
        Float80 r;
        ushort sw = f(&a, &operand, cw, &r);
        result = r;
        return sw;
    }

    public static ushort Push(string op, Float80 a, ushort cw, out Float80 st0, out Float80 st1)
    {
        var f = (delegate* unmanaged<Float80*, ushort, Float80*, ushort>)Sym("x87_" + op);
        Float80* r = stackalloc Float80[2];
        ushort sw = f(&a, cw, r);
        st0 = r[0];
        st1 = r[1];
        return sw;
    }

    public static ushort Load(string op, ReadOnlySpan<byte> src, ushort cw, out Float80 result)
    {
        var f = (delegate* unmanaged<byte*, ushort, Float80*, ushort>)Sym("x87_" + op);
        byte* buf = stackalloc byte[16];
        src.CopyTo(new Span<byte>(buf, 16));
        Float80 r;
        ushort sw = f(buf, cw, &r);
        result = r;
        return sw;
    }

    /// <summary>Runs a store; <paramref name="dst"/> keeps its prior bytes when the hardware does not write.</summary>
    public static ushort Store(string op, Float80 a, ushort cw, Span<byte> dst)
    {
        var f = (delegate* unmanaged<Float80*, ushort, byte*, ushort>)Sym("x87_" + op);
        byte* buf = stackalloc byte[16];
        dst.CopyTo(new Span<byte>(buf, 16));
        ushort sw = f(&a, cw, buf);
        new Span<byte>(buf, dst.Length).CopyTo(dst);
        return sw;
    }

    public static ushort Constant(int which, ushort cw, out Float80 result)
    {
        var f = (delegate* unmanaged<int, ushort, Float80*, ushort>)Sym("x87_const");
        Float80 r;
        ushort sw = f(which, cw, &r);
        result = r;
        return sw;
    }
}
