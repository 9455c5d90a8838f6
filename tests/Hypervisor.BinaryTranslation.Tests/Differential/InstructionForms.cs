using Iced.Intel;

namespace Hypervisor.BinaryTranslation.Tests.Differential;

/// <summary>
/// The instruction forms the harness exercises: every legacy-encoded 64-bit-mode <see cref="Code"/> of the
/// user-level integer mnemonics, with operand kinds the generator can produce. Forms that differ between Intel
/// and AMD (16-bit near branches in 64-bit mode) or that need privilege, ports or real-mode segments are left
/// out; their semantics are unit-tested.
/// </summary>
public static class InstructionForms
{
    public static readonly HashSet<Mnemonic> Mnemonics =
    [
        Mnemonic.Add, Mnemonic.Or, Mnemonic.Adc, Mnemonic.Sbb, Mnemonic.And, Mnemonic.Sub, Mnemonic.Xor, Mnemonic.Cmp,
        Mnemonic.Test, Mnemonic.Inc, Mnemonic.Dec, Mnemonic.Neg, Mnemonic.Not,
        Mnemonic.Rol, Mnemonic.Ror, Mnemonic.Rcl, Mnemonic.Rcr, Mnemonic.Shl, Mnemonic.Sal, Mnemonic.Shr, Mnemonic.Sar,
        Mnemonic.Shld, Mnemonic.Shrd,
        Mnemonic.Mul, Mnemonic.Imul, Mnemonic.Div, Mnemonic.Idiv,
        Mnemonic.Bt, Mnemonic.Bts, Mnemonic.Btr, Mnemonic.Btc, Mnemonic.Bsf, Mnemonic.Bsr, Mnemonic.Bswap,
        Mnemonic.Xchg, Mnemonic.Xadd, Mnemonic.Cmpxchg, Mnemonic.Cmpxchg8b, Mnemonic.Cmpxchg16b,
        Mnemonic.Mov, Mnemonic.Movzx, Mnemonic.Movsx, Mnemonic.Movsxd, Mnemonic.Lea,
        Mnemonic.Cbw, Mnemonic.Cwde, Mnemonic.Cdqe, Mnemonic.Cwd, Mnemonic.Cdq, Mnemonic.Cqo, Mnemonic.Xlatb,
        Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne,
        Mnemonic.Cmovbe, Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp,
        Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg,
        Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne,
        Mnemonic.Setbe, Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp,
        Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg,
        Mnemonic.Push, Mnemonic.Pop, Mnemonic.Pushf, Mnemonic.Pushfq, Mnemonic.Popf, Mnemonic.Popfq,
        Mnemonic.Enter, Mnemonic.Leave,
        Mnemonic.Jo, Mnemonic.Jno, Mnemonic.Jb, Mnemonic.Jae, Mnemonic.Je, Mnemonic.Jne, Mnemonic.Jbe, Mnemonic.Ja,
        Mnemonic.Js, Mnemonic.Jns, Mnemonic.Jp, Mnemonic.Jnp, Mnemonic.Jl, Mnemonic.Jge, Mnemonic.Jle, Mnemonic.Jg,
        Mnemonic.Jmp, Mnemonic.Call, Mnemonic.Ret, Mnemonic.Loop, Mnemonic.Loope, Mnemonic.Loopne,
        Mnemonic.Jecxz, Mnemonic.Jrcxz,
        Mnemonic.Movsb, Mnemonic.Movsw, Mnemonic.Movsd, Mnemonic.Movsq, Mnemonic.Stosb, Mnemonic.Stosw,
        Mnemonic.Stosd, Mnemonic.Stosq, Mnemonic.Lodsb, Mnemonic.Lodsw, Mnemonic.Lodsd, Mnemonic.Lodsq,
        Mnemonic.Scasb, Mnemonic.Scasw, Mnemonic.Scasd, Mnemonic.Scasq, Mnemonic.Cmpsb, Mnemonic.Cmpsw,
        Mnemonic.Cmpsd, Mnemonic.Cmpsq,
        Mnemonic.Lahf, Mnemonic.Sahf, Mnemonic.Clc, Mnemonic.Stc, Mnemonic.Cmc, Mnemonic.Cld, Mnemonic.Std,
        Mnemonic.Nop, Mnemonic.Pause, Mnemonic.Lfence, Mnemonic.Mfence, Mnemonic.Sfence,
        // SSE/SSE2: data movement, packed integer, bitwise, shuffles, MXCSR and FXSAVE/FXRSTOR.
        Mnemonic.Movaps, Mnemonic.Movapd, Mnemonic.Movdqa, Mnemonic.Movups, Mnemonic.Movupd, Mnemonic.Movdqu,
        Mnemonic.Movd, Mnemonic.Movq, Mnemonic.Movss, Mnemonic.Movlps, Mnemonic.Movlpd, Mnemonic.Movhps,
        Mnemonic.Movhpd, Mnemonic.Movhlps, Mnemonic.Movlhps, Mnemonic.Pshufd, Mnemonic.Pshuflw, Mnemonic.Pshufhw,
        Mnemonic.Shufps, Mnemonic.Shufpd, Mnemonic.Pslldq, Mnemonic.Psrldq, Mnemonic.Pmovmskb, Mnemonic.Movmskps,
        Mnemonic.Movmskpd, Mnemonic.Pextrw, Mnemonic.Pinsrw,
        Mnemonic.Paddb, Mnemonic.Paddw, Mnemonic.Paddd, Mnemonic.Paddq, Mnemonic.Psubb, Mnemonic.Psubw,
        Mnemonic.Psubd, Mnemonic.Psubq, Mnemonic.Paddsb, Mnemonic.Paddsw, Mnemonic.Paddusb, Mnemonic.Paddusw,
        Mnemonic.Psubsb, Mnemonic.Psubsw, Mnemonic.Psubusb, Mnemonic.Psubusw, Mnemonic.Pcmpeqb, Mnemonic.Pcmpeqw,
        Mnemonic.Pcmpeqd, Mnemonic.Pcmpgtb, Mnemonic.Pcmpgtw, Mnemonic.Pcmpgtd, Mnemonic.Pmullw, Mnemonic.Pmulhw,
        Mnemonic.Pmulhuw, Mnemonic.Pmuludq, Mnemonic.Pmaddwd, Mnemonic.Pavgb, Mnemonic.Pavgw, Mnemonic.Pmaxub,
        Mnemonic.Pminub, Mnemonic.Pmaxsw, Mnemonic.Pminsw, Mnemonic.Psadbw, Mnemonic.Punpcklbw, Mnemonic.Punpcklwd,
        Mnemonic.Punpckldq, Mnemonic.Punpcklqdq, Mnemonic.Punpckhbw, Mnemonic.Punpckhwd, Mnemonic.Punpckhdq,
        Mnemonic.Punpckhqdq, Mnemonic.Packsswb, Mnemonic.Packssdw, Mnemonic.Packuswb, Mnemonic.Pand, Mnemonic.Pandn,
        Mnemonic.Por, Mnemonic.Pxor, Mnemonic.Psllw, Mnemonic.Pslld, Mnemonic.Psllq, Mnemonic.Psrlw, Mnemonic.Psrld,
        Mnemonic.Psrlq, Mnemonic.Psraw, Mnemonic.Psrad, Mnemonic.Andps, Mnemonic.Andpd, Mnemonic.Andnps,
        Mnemonic.Andnpd, Mnemonic.Orps, Mnemonic.Orpd, Mnemonic.Xorps, Mnemonic.Xorpd, Mnemonic.Unpcklps,
        Mnemonic.Unpckhps, Mnemonic.Unpcklpd, Mnemonic.Unpckhpd,
        Mnemonic.Ldmxcsr, Mnemonic.Stmxcsr, Mnemonic.Fxsave, Mnemonic.Fxsave64, Mnemonic.Fxrstor, Mnemonic.Fxrstor64,
        // x87 on Float80.
        Mnemonic.Fld, Mnemonic.Fild, Mnemonic.Fld1, Mnemonic.Fldl2t, Mnemonic.Fldl2e, Mnemonic.Fldpi, Mnemonic.Fldlg2,
        Mnemonic.Fldln2, Mnemonic.Fldz, Mnemonic.Fst, Mnemonic.Fstp, Mnemonic.Fist, Mnemonic.Fistp, Mnemonic.Fisttp,
        Mnemonic.Fxch, Mnemonic.Ffree, Mnemonic.Fadd, Mnemonic.Faddp, Mnemonic.Fiadd, Mnemonic.Fmul, Mnemonic.Fmulp,
        Mnemonic.Fimul, Mnemonic.Fsub, Mnemonic.Fsubp, Mnemonic.Fisub, Mnemonic.Fsubr, Mnemonic.Fsubrp, Mnemonic.Fisubr,
        Mnemonic.Fdiv, Mnemonic.Fdivp, Mnemonic.Fidiv, Mnemonic.Fdivr, Mnemonic.Fdivrp, Mnemonic.Fidivr,
        Mnemonic.Fcom, Mnemonic.Fcomp, Mnemonic.Fcompp, Mnemonic.Fucom, Mnemonic.Fucomp, Mnemonic.Fucompp,
        Mnemonic.Ficom, Mnemonic.Ficomp, Mnemonic.Fcomi, Mnemonic.Fcomip, Mnemonic.Fucomi, Mnemonic.Fucomip,
        Mnemonic.Ftst, Mnemonic.Fxam, Mnemonic.Fchs, Mnemonic.Fabs, Mnemonic.Fsqrt, Mnemonic.Frndint,
        Mnemonic.Fcmovb, Mnemonic.Fcmovnb, Mnemonic.Fcmove, Mnemonic.Fcmovne, Mnemonic.Fcmovbe, Mnemonic.Fcmovnbe,
        Mnemonic.Fcmovu, Mnemonic.Fcmovnu, Mnemonic.Fnstsw, Mnemonic.Fnstcw, Mnemonic.Fldcw, Mnemonic.Fninit,
        Mnemonic.Fnclex, Mnemonic.Fincstp, Mnemonic.Fdecstp, Mnemonic.Fnop, Mnemonic.Wait,
        Mnemonic.Fscale, Mnemonic.Fprem, Mnemonic.Fprem1, Mnemonic.Fxtract, Mnemonic.Fbld, Mnemonic.Fbstp,
        // (The waiting forms FSTENV/FSAVE/FSTSW... decode as FWAIT + the no-wait form: single-stepping runs the FWAIT.)
        Mnemonic.Fnstenv, Mnemonic.Fldenv, Mnemonic.Fnsave, Mnemonic.Frstor,
        // x87 transcendentals: compared with a 1-ulp tolerance (TestCase.X87UlpTolerance).
        Mnemonic.Fsin, Mnemonic.Fcos, Mnemonic.Fsincos, Mnemonic.Fptan, Mnemonic.Fpatan, Mnemonic.F2xm1,
        Mnemonic.Fyl2x, Mnemonic.Fyl2xp1,
        // SSE/SSE2 floating point (host-assisted, MXCSR exact).
        Mnemonic.Addps, Mnemonic.Addpd, Mnemonic.Addss, Mnemonic.Addsd, Mnemonic.Subps, Mnemonic.Subpd,
        Mnemonic.Subss, Mnemonic.Subsd, Mnemonic.Mulps, Mnemonic.Mulpd, Mnemonic.Mulss, Mnemonic.Mulsd,
        Mnemonic.Divps, Mnemonic.Divpd, Mnemonic.Divss, Mnemonic.Divsd, Mnemonic.Minps, Mnemonic.Minpd,
        Mnemonic.Minss, Mnemonic.Minsd, Mnemonic.Maxps, Mnemonic.Maxpd, Mnemonic.Maxss, Mnemonic.Maxsd,
        Mnemonic.Sqrtps, Mnemonic.Sqrtpd, Mnemonic.Sqrtss, Mnemonic.Sqrtsd, Mnemonic.Rcpps, Mnemonic.Rcpss,
        Mnemonic.Rsqrtps, Mnemonic.Rsqrtss, Mnemonic.Cmpps, Mnemonic.Cmppd, Mnemonic.Cmpss,
        Mnemonic.Cvtps2pd, Mnemonic.Cvtpd2ps, Mnemonic.Cvtss2sd, Mnemonic.Cvtsd2ss, Mnemonic.Cvtdq2ps,
        Mnemonic.Cvtps2dq, Mnemonic.Cvttps2dq, Mnemonic.Cvtdq2pd, Mnemonic.Cvtpd2dq, Mnemonic.Cvttpd2dq,
        Mnemonic.Comiss, Mnemonic.Ucomiss, Mnemonic.Comisd, Mnemonic.Ucomisd, Mnemonic.Cvtsi2ss, Mnemonic.Cvtsi2sd,
        Mnemonic.Cvtss2si, Mnemonic.Cvttss2si, Mnemonic.Cvtsd2si, Mnemonic.Cvttsd2si,
        // MMX (the packed mnemonics above also have MM forms), the SSE/SSE2 additions on MM and the MM/XMM moves
        // and conversions.
        Mnemonic.Emms, Mnemonic.Movntq, Mnemonic.Maskmovq, Mnemonic.Pshufw, Mnemonic.Movq2dq, Mnemonic.Movdq2q,
        Mnemonic.Cvtpi2ps, Mnemonic.Cvtpi2pd, Mnemonic.Cvtps2pi, Mnemonic.Cvttps2pi, Mnemonic.Cvtpd2pi,
        Mnemonic.Cvttpd2pi,
    ];

    public static bool IsStringCode(Code code) =>
        IsStringOp(code.Mnemonic()) && code is not (Code.Movsd_xmm_xmmm64 or Code.Movsd_xmmm64_xmm or Code.Cmpsd_xmm_xmmm64_imm8);

    public static bool IsStringOp(Mnemonic m) => m is Mnemonic.Movsb or Mnemonic.Movsw or Mnemonic.Movsd
        or Mnemonic.Movsq or Mnemonic.Stosb or Mnemonic.Stosw or Mnemonic.Stosd or Mnemonic.Stosq
        or Mnemonic.Lodsb or Mnemonic.Lodsw or Mnemonic.Lodsd or Mnemonic.Lodsq or Mnemonic.Scasb
        or Mnemonic.Scasw or Mnemonic.Scasd or Mnemonic.Scasq or Mnemonic.Cmpsb or Mnemonic.Cmpsw
        or Mnemonic.Cmpsd or Mnemonic.Cmpsq;

    private static readonly HashSet<OpCodeOperandKind> Supported =
    [
        OpCodeOperandKind.r8_reg, OpCodeOperandKind.r8_opcode, OpCodeOperandKind.r16_reg, OpCodeOperandKind.r16_opcode,
        OpCodeOperandKind.r32_reg, OpCodeOperandKind.r32_opcode, OpCodeOperandKind.r64_reg, OpCodeOperandKind.r64_opcode,
        OpCodeOperandKind.r8_or_mem, OpCodeOperandKind.r16_or_mem, OpCodeOperandKind.r32_or_mem,
        OpCodeOperandKind.r64_or_mem, OpCodeOperandKind.r16_rm, OpCodeOperandKind.r32_rm, OpCodeOperandKind.r64_rm,
        OpCodeOperandKind.mem, OpCodeOperandKind.mem_offs,
        OpCodeOperandKind.imm8, OpCodeOperandKind.imm8_const_1, OpCodeOperandKind.imm8sex16, OpCodeOperandKind.imm8sex32,
        OpCodeOperandKind.imm8sex64, OpCodeOperandKind.imm16, OpCodeOperandKind.imm32, OpCodeOperandKind.imm32sex64,
        OpCodeOperandKind.imm64, OpCodeOperandKind.al, OpCodeOperandKind.ax, OpCodeOperandKind.eax, OpCodeOperandKind.rax,
        OpCodeOperandKind.cl, OpCodeOperandKind.br64_1, OpCodeOperandKind.br64_4, OpCodeOperandKind.seg_rSI,
        OpCodeOperandKind.es_rDI, OpCodeOperandKind.seg_rBX_al,
        OpCodeOperandKind.xmm_reg, OpCodeOperandKind.xmm_rm, OpCodeOperandKind.xmm_or_mem,
        OpCodeOperandKind.st0, OpCodeOperandKind.sti_opcode,
        OpCodeOperandKind.mm_reg, OpCodeOperandKind.mm_rm, OpCodeOperandKind.mm_or_mem, OpCodeOperandKind.seg_rDI,
    ];

    /// <summary>All forms, in <see cref="Code"/> order.</summary>
    public static IReadOnlyList<Code> All { get; } = Build();

    private static List<Code> Build()
    {
        var list = new List<Code>();
        foreach (var code in Enum.GetValues<Code>())
        {
            var oc = code.ToOpCode();
            if (!oc.IsInstruction || oc.Encoding != EncodingKind.Legacy || !oc.Mode64) continue;
            if (!Mnemonics.Contains(code.Mnemonic())) continue;
            bool ok = true;
            for (int i = 0; i < oc.OpCount; i++) ok &= Supported.Contains(oc.GetOpKind(i));
            // BSWAP r16 is undefined; 16-bit RET pops a 16-bit RIP, which leaves the test page.
            // Anything beyond SSE2 (the SSE4.1 PEXTRW r/m16 form) is outside the CPUID model.
            var features = code.CpuidFeatures();
            if (features.Any(f => f is CpuidFeature.SSE3 or CpuidFeature.SSSE3 or CpuidFeature.SSE4_1
                    or CpuidFeature.SSE4_2 or CpuidFeature.SSE4A)) ok = false;
            if (code is Code.Bswap_r16 or Code.Retnw or Code.Retnw_imm16) ok = false;
            // 16/32-bit indirect near branches in 64-bit mode behave differently on Intel and AMD.
            if (code is Code.Jmp_rm16 or Code.Call_rm16 or Code.Jmp_rm32 or Code.Call_rm32) ok = false;
            // Far transfers (m16:16/32/64) load CS: protected-mode semantics, unit-tested with P1.4.
            if (code.ToString().Contains("_m16", StringComparison.Ordinal)) ok = false;
            if (ok) list.Add(code);
        }
        return list;
    }
}
