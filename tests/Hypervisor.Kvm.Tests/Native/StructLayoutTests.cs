using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Hypervisor.Kvm;
using Hypervisor.Kvm.Native;

namespace Hypervisor.Kvm.Tests.Native;

/// <summary>
/// Every struct hv marshals to KVM, and every ioctl number and constant, checked against what gcc computes from
/// /usr/include/linux/kvm.h. The C program is generated from the C# definitions, so a field or constant named
/// in C# but absent from the header fails to compile, and a wrong offset, size or value fails the comparison.
/// </summary>
public sealed class StructLayoutTests
{
    private static readonly Lazy<Dictionary<string, ulong>> CValues = new(CompileAndRun);

    public static IEnumerable<object[]> Structs() =>
        MarshalledStructs().Select(t => new object[] { t.Name });

    public static IEnumerable<object[]> Constants() =>
        ConstantFields().Select(f => new object[] { f.Name });

    [Fact]
    public void EveryStructPassedToAnIoctlIsMirrored()
    {
        var names = MarshalledStructs().Select(t => t.GetCustomAttribute<CStructAttribute>()!.CType).ToHashSet();
        foreach (var required in new[] { "struct kvm_regs", "struct kvm_sregs", "struct kvm_fpu", "struct kvm_xsave",
                     "struct kvm_xcrs", "struct kvm_debugregs", "struct kvm_msrs", "struct kvm_msr_entry",
                     "struct kvm_msr_list", "struct kvm_cpuid2", "struct kvm_cpuid_entry2", "struct kvm_lapic_state",
                     "struct kvm_mp_state", "struct kvm_vcpu_events", "struct kvm_run", "struct kvm_userspace_memory_region",
                     "struct kvm_irq_level", "struct kvm_msi", "struct kvm_irqfd", "struct kvm_ioeventfd",
                     "struct kvm_dirty_log", "struct kvm_pit_config", "struct kvm_signal_mask",
                     "struct kvm_irq_routing", "struct kvm_irq_routing_entry" })
            Assert.Contains(required, names);
    }

    [Theory]
    [MemberData(nameof(Structs))]
    public void StructMatchesKernelHeader(string typeName)
    {
        var type = MarshalledStructs().Single(t => t.Name == typeName);
        string c = type.GetCustomAttribute<CStructAttribute>()!.CType;
        var c_ = CValues.Value;
        Assert.Equal(c_[$"size|{c}"], (ulong)UnmanagedSize(type));
        Assert.Equal(c_[$"size|{c}"], (ulong)Marshal.SizeOf(type));
        foreach (var field in InstanceFields(type))
        {
            string member = Designator(field);
            Assert.True(c_[$"offset|{c}|{member}"] == (ulong)Marshal.OffsetOf(type, field.Name),
                $"{c}.{member}: C offset {c_[$"offset|{c}|{member}"]}, C# {Marshal.OffsetOf(type, field.Name)}");
            Assert.True(c_[$"fsize|{c}|{member}"] == (ulong)FieldSize(field),
                $"{c}.{member}: C size {c_[$"fsize|{c}|{member}"]}, C# {FieldSize(field)}");
        }
    }

    [Theory]
    [MemberData(nameof(Constants))]
    public void ConstantMatchesKernelHeader(string name)
    {
        var field = ConstantFields().Single(f => f.Name == name);
        ulong expected = CValues.Value[$"const|{name}"];
        ulong actual = field.GetValue(null) switch
        {
            int i => unchecked((uint)i),
            uint u => u,
            var v => throw new InvalidOperationException($"{name} has unexpected type {v?.GetType()}"),
        };
        Assert.True(expected == actual, $"{name}: C 0x{expected:x}, C# 0x{actual:x}");
    }

    [Fact]
    public void IoctlEncodingMatchesKnownNumbers()
    {
        // Values as strace prints them, independent of the generated program.
        Assert.Equal(0xAE80u, unchecked((uint)KvmIoctls.KVM_RUN));
        Assert.Equal(0xC008AE05u, unchecked((uint)KvmIoctls.KVM_GET_SUPPORTED_CPUID));
        Assert.Equal(0x4020AE46u, unchecked((uint)KvmIoctls.KVM_SET_USER_MEMORY_REGION));
        Assert.Equal(0x8090AE81u, unchecked((uint)KvmIoctls.KVM_GET_REGS));
    }

    private static IEnumerable<Type> MarshalledStructs() =>
        typeof(KvmHypervisor).Assembly.GetTypes()
            .Where(t => t.GetCustomAttribute<CStructAttribute>() != null)
            .OrderBy(t => t.Name);

    private static IEnumerable<FieldInfo> ConstantFields() =>
        typeof(KvmConstants).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral)
            .Concat(typeof(KvmIoctls).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsInitOnly))
            .OrderBy(f => f.Name);

    private static IEnumerable<FieldInfo> InstanceFields(Type t) =>
        t.GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance);

    private static string Designator(FieldInfo f) =>
        f.GetCustomAttribute<CFieldAttribute>()?.Designator ?? f.Name;

    private static int UnmanagedSize(Type t) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(t).Invoke(null, null)!;

    private static int FieldSize(FieldInfo f)
    {
        if (f.GetCustomAttribute<FixedBufferAttribute>() is { } fixedBuffer)
            return fixedBuffer.Length * Marshal.SizeOf(fixedBuffer.ElementType);
        if (f.FieldType.IsPointer) return IntPtr.Size;
        return UnmanagedSize(f.FieldType);
    }

    private static Dictionary<string, ulong> CompileAndRun()
    {
        var src = new StringBuilder();
        src.AppendLine("#include <stddef.h>\n#include <stdio.h>\n#include <linux/kvm.h>\nint main(void) {");
        foreach (var type in MarshalledStructs())
        {
            string c = type.GetCustomAttribute<CStructAttribute>()!.CType;
            src.AppendLine($"  printf(\"size|%s|%zu\\n\", \"{c}\", sizeof({c}));");
            foreach (var field in InstanceFields(type))
            {
                string m = Designator(field);
                src.AppendLine($"  printf(\"offset|%s|%s|%zu\\n\", \"{c}\", \"{m}\", offsetof({c}, {m}));");
                src.AppendLine($"  printf(\"fsize|%s|%s|%zu\\n\", \"{c}\", \"{m}\", sizeof((({c}*)0)->{m}));");
            }
        }
        foreach (var f in ConstantFields())
            src.AppendLine($"  printf(\"const|%s|%u\\n\", \"{f.Name}\", (unsigned)({f.Name}));");
        src.AppendLine("  return 0;\n}");

        string dir = Directory.CreateTempSubdirectory("hv-kvm-layout-").FullName;
        try
        {
            string cFile = Path.Combine(dir, "layout.c"), exe = Path.Combine(dir, "layout");
            File.WriteAllText(cFile, src.ToString());
            Run("gcc", $"-std=gnu11 -Wall -Werror -o {exe} {cFile}", out _);
            Run(exe, "", out string output);
            var values = new Dictionary<string, ulong>();
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                int bar = line.LastIndexOf('|');
                values[line[..bar]] = ulong.Parse(line[(bar + 1)..]);
            }
            return values;
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void Run(string file, string args, out string stdout)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        }) ?? throw new InvalidOperationException($"cannot start {file}");
        var errTask = p.StandardError.ReadToEndAsync();
        stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException(
                $"{file} {args} exited {p.ExitCode} (needs gcc and linux-libc-dev):\n{errTask.Result}");
    }
}
