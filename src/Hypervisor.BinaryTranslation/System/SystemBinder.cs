using Hypervisor.BinaryTranslation.Decoding;
using Hypervisor.BinaryTranslation.Instructions;
using Iced.Intel;

namespace Hypervisor.BinaryTranslation.System;

/// <summary>Binds the segmentation, descriptor-table, interrupt and far-transfer instructions (this folder).</summary>
public static unsafe class SystemBinder
{
    private static int RegisterSize(in Instruction ins) => ins.Op0Register.GetSize();

    internal static bool Bind(in Instruction ins, ref Op op, in BindContext ctx)
    {
        bool memory = ins.OpCount > 0 && (ins.Op0Kind == OpKind.Memory || (ins.OpCount > 1 && ins.Op1Kind == OpKind.Memory));
        switch (ins.Code)
        {
            case Code.Mov_Sreg_rm16:
            case Code.Mov_Sreg_r32m16:
            case Code.Mov_Sreg_r64m16:
                // MOV CS is undefined (#UD).
                if (ins.Op0Register == Register.CS) return false;
                op.Cond = (byte)(ins.Op0Register - Register.ES);
                op.Handler = memory ? &SegmentInstructions.MovToSreg<FromMem> : &SegmentInstructions.MovToSreg<FromReg>;
                return true;

            case Code.Lds_r16_m1616: case Code.Lds_r32_m1632:
            case Code.Les_r16_m1616: case Code.Les_r32_m1632:
            case Code.Lfs_r16_m1616: case Code.Lfs_r32_m1632: case Code.Lfs_r64_m1664:
            case Code.Lgs_r16_m1616: case Code.Lgs_r32_m1632: case Code.Lgs_r64_m1664:
            case Code.Lss_r16_m1616: case Code.Lss_r32_m1632: case Code.Lss_r64_m1664:
                op.Cond = (byte)(ins.Mnemonic switch
                {
                    Mnemonic.Lds => SegmentLoader.Ds, Mnemonic.Les => SegmentLoader.Es, Mnemonic.Lfs => SegmentLoader.Fs,
                    Mnemonic.Lgs => SegmentLoader.Gs, _ => SegmentLoader.Ss,
                });
                op.Handler = RegisterSize(ins) switch
                {
                    2 => &SegmentInstructions.LoadFarPointer<ushort>,
                    4 => &SegmentInstructions.LoadFarPointer<uint>,
                    _ => &SegmentInstructions.LoadFarPointer<ulong>,
                };
                return true;

            case Code.Lgdt_m1632_16: case Code.Lgdt_m1632: case Code.Lgdt_m1664:
            case Code.Lidt_m1632_16: case Code.Lidt_m1632: case Code.Lidt_m1664:
                op.Cond = (byte)(ins.Mnemonic == Mnemonic.Lgdt ? 0 : 1);
                op.Aux = (byte)(ins.Code is Code.Lgdt_m1632_16 or Code.Lidt_m1632_16 ? 2 : 4);
                op.Handler = &DescriptorTableInstructions.LoadTableRegister;
                return true;
            case Code.Sgdt_m1632_16: case Code.Sgdt_m1632: case Code.Sgdt_m1664:
            case Code.Sidt_m1632_16: case Code.Sidt_m1632: case Code.Sidt_m1664:
                op.Cond = (byte)(ins.Mnemonic == Mnemonic.Sgdt ? 0 : 1);
                op.Handler = &DescriptorTableInstructions.StoreTableRegister;
                return true;

            case Code.Lldt_rm16: case Code.Lldt_r32m16: case Code.Lldt_r64m16:
                op.R1 = op.R0;
                op.Handler = memory ? &DescriptorTableInstructions.Lldt<FromMem> : &DescriptorTableInstructions.Lldt<FromReg>;
                return true;
            case Code.Ltr_rm16: case Code.Ltr_r32m16: case Code.Ltr_r64m16:
                op.R1 = op.R0;
                op.Handler = memory ? &DescriptorTableInstructions.Ltr<FromMem> : &DescriptorTableInstructions.Ltr<FromReg>;
                return true;
            case Code.Sldt_rm16: case Code.Sldt_r32m16: case Code.Sldt_r64m16:
            case Code.Str_rm16: case Code.Str_r32m16: case Code.Str_r64m16:
                op.Cond = (byte)(ins.Mnemonic == Mnemonic.Sldt ? 0 : 1);
                op.Handler = memory ? &DescriptorTableInstructions.StoreSystemSelectorMem : RegisterSize(ins) switch
                {
                    2 => &DescriptorTableInstructions.StoreSystemSelectorReg<ushort>,
                    4 => &DescriptorTableInstructions.StoreSystemSelectorReg<uint>,
                    _ => &DescriptorTableInstructions.StoreSystemSelectorReg<ulong>,
                };
                return true;
            case Code.Lar_r16_rm16: case Code.Lar_r32_r32m16: case Code.Lar_r64_r64m16:
                op.Handler = (RegisterSize(ins), memory) switch
                {
                    (2, false) => &DescriptorTableInstructions.Lar<ushort, FromReg>,
                    (2, true) => &DescriptorTableInstructions.Lar<ushort, FromMem>,
                    (4, false) => &DescriptorTableInstructions.Lar<uint, FromReg>,
                    (4, true) => &DescriptorTableInstructions.Lar<uint, FromMem>,
                    (_, false) => &DescriptorTableInstructions.Lar<ulong, FromReg>,
                    _ => &DescriptorTableInstructions.Lar<ulong, FromMem>,
                };
                return true;
            case Code.Lsl_r16_rm16: case Code.Lsl_r32_r32m16: case Code.Lsl_r64_r64m16:
                op.Handler = (RegisterSize(ins), memory) switch
                {
                    (2, false) => &DescriptorTableInstructions.Lsl<ushort, FromReg>,
                    (2, true) => &DescriptorTableInstructions.Lsl<ushort, FromMem>,
                    (4, false) => &DescriptorTableInstructions.Lsl<uint, FromReg>,
                    (4, true) => &DescriptorTableInstructions.Lsl<uint, FromMem>,
                    (_, false) => &DescriptorTableInstructions.Lsl<ulong, FromReg>,
                    _ => &DescriptorTableInstructions.Lsl<ulong, FromMem>,
                };
                return true;
            case Code.Verr_rm16: case Code.Verr_r32m16: case Code.Verr_r64m16:
            case Code.Verw_rm16: case Code.Verw_r32m16: case Code.Verw_r64m16:
                op.Cond = (byte)(ins.Mnemonic == Mnemonic.Verr ? 0 : 1);
                op.R1 = op.R0;
                op.Handler = memory ? &DescriptorTableInstructions.Verify<FromMem> : &DescriptorTableInstructions.Verify<FromReg>;
                return true;
            case Code.Arpl_rm16_r16: case Code.Arpl_r32m16_r32:
                op.Handler = memory ? &DescriptorTableInstructions.Arpl<FromMem> : &DescriptorTableInstructions.Arpl<FromReg>;
                return true;

            case Code.Int_imm8:
                op.Handler = &InterruptInstructions.IntN;
                return true;
            case Code.Int3:
                op.Handler = &InterruptInstructions.Int3;
                return true;
            case Code.Into:
                op.Handler = &InterruptInstructions.Into;
                return true;
            case Code.Int1:
                op.Handler = &InterruptInstructions.Int1;
                return true;
            case Code.Iretw:
                op.Handler = &InterruptInstructions.Iret<ushort>;
                return true;
            case Code.Iretd:
                op.Handler = &InterruptInstructions.Iret<uint>;
                return true;
            case Code.Iretq:
                op.Handler = &InterruptInstructions.Iret<ulong>;
                return true;

            case Code.Jmp_ptr1616:
            case Code.Call_ptr1616:
                op.Imm = ins.FarBranch16;
                op.Aux2 = ins.FarBranchSelector;
                op.Handler = ins.Mnemonic == Mnemonic.Jmp ? &FarTransfers.JmpFarDirect<ushort> : &FarTransfers.CallFarDirect<ushort>;
                return true;
            case Code.Jmp_ptr1632:
            case Code.Call_ptr1632:
                op.Imm = ins.FarBranch32;
                op.Aux2 = ins.FarBranchSelector;
                op.Handler = ins.Mnemonic == Mnemonic.Jmp ? &FarTransfers.JmpFarDirect<uint> : &FarTransfers.CallFarDirect<uint>;
                return true;
            case Code.Jmp_m1616: op.Handler = &FarTransfers.JmpFarIndirect<ushort>; return true;
            case Code.Jmp_m1632: op.Handler = &FarTransfers.JmpFarIndirect<uint>; return true;
            case Code.Jmp_m1664: op.Handler = &FarTransfers.JmpFarIndirect<ulong>; return true;
            case Code.Call_m1616: op.Handler = &FarTransfers.CallFarIndirect<ushort>; return true;
            case Code.Call_m1632: op.Handler = &FarTransfers.CallFarIndirect<uint>; return true;
            case Code.Call_m1664: op.Handler = &FarTransfers.CallFarIndirect<ulong>; return true;
            case Code.Retfw: case Code.Retfw_imm16:
            case Code.Retfd: case Code.Retfd_imm16:
            case Code.Retfq: case Code.Retfq_imm16:
                if (ins.OpCount == 0) op.Imm = 0;
                op.Handler = ins.Code switch
                {
                    Code.Retfw or Code.Retfw_imm16 => &FarTransfers.RetFar<ushort>,
                    Code.Retfd or Code.Retfd_imm16 => &FarTransfers.RetFar<uint>,
                    _ => &FarTransfers.RetFar<ulong>,
                };
                return true;

            case Code.Syscall:
                op.Handler = &FastSystemCalls.Syscall;
                return true;
            case Code.Sysretd:
            case Code.Sysretq:
                op.Aux = (byte)(ins.Code == Code.Sysretq ? 8 : 4);
                op.Handler = &FastSystemCalls.Sysret;
                return true;
            case Code.Sysenter:
                op.Handler = &FastSystemCalls.Sysenter;
                return true;
            case Code.Sysexitd:
            case Code.Sysexitq:
                op.Aux = (byte)(ins.Code == Code.Sysexitq ? 8 : 4);
                op.Handler = &FastSystemCalls.Sysexit;
                return true;
            case Code.Swapgs:
                op.Handler = &FastSystemCalls.Swapgs;
                return true;
        }
        return false;
    }
}
