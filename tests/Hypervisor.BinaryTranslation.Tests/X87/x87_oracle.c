/* The host FPU as the oracle for Float80 (design/TESTING.md §1). Built by HostX87.cs at test time:
 *   gcc -shared -fPIC -O2 -o libx87oracle.so x87_oracle.c
 * Every entry point starts from FNINIT + FLDCW so nothing leaks between calls, and reads the status word with
 * FNSTSW then clears it with FNCLEX before storing: the non-waiting forms keep an unmasked exception pending
 * instead of raising #MF, so unmasked exceptions can be observed too (SDM Vol. 1 §8.6). */
#include <stdint.h>

typedef struct __attribute__((packed)) { uint64_t m; uint16_t se; } f80;

#define CLOB "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)", "memory"

/* Two operands in, ST(0)=a, ST(1)=b; one result from ST(0), then ST(1) discarded. */
#define OP2(name, insn)                                                                  \
    uint16_t name(const f80 *a, const f80 *b, uint16_t cw, f80 *r)                      \
    {                                                                                    \
        uint16_t sw;                                                                     \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t" insn      \
                         "\n\tfnstsw %[sw]\n\tfnclex\n\tfstpt %[r]\n\tfstp %%st(0)\n\t"  \
                         : [sw] "=m"(sw), [r] "=m"(*r)                                  \
                         : [a] "m"(*a), [b] "m"(*b), [cw] "m"(cw)                        \
                         : CLOB);                                                        \
        return sw;                                                                       \
    }

OP2(x87_add, "fadd %%st(1), %%st")
OP2(x87_sub, "fsub %%st(1), %%st")
OP2(x87_mul, "fmul %%st(1), %%st")
OP2(x87_div, "fdiv %%st(1), %%st")
OP2(x87_sqrt, "fsqrt")
OP2(x87_prem, "fprem")
OP2(x87_prem1, "fprem1")
OP2(x87_rndint, "frndint")
OP2(x87_scale, "fscale")
OP2(x87_com, "fcom %%st(1)")
OP2(x87_ucom, "fucom %%st(1)")
OP2(x87_tst, "ftst")
OP2(x87_xam, "fxam")
OP2(x87_sin, "fsin")
OP2(x87_cos, "fcos")
OP2(x87_f2xm1, "f2xm1")

/* FPATAN/FYL2X/FYL2XP1 compute from ST(1),ST(0) and pop: ST(1)=b is the y/x multiplicand, ST(0)=a. */
#define OP2POP(name, insn)                                                               \
    uint16_t name(const f80 *a, const f80 *b, uint16_t cw, f80 *r)                      \
    {                                                                                    \
        uint16_t sw;                                                                     \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[b]\n\tfldt %[a]\n\t" insn      \
                         "\n\tfnstsw %[sw]\n\tfnclex\n\tfstpt %[r]\n\t"                  \
                         : [sw] "=m"(sw), [r] "=m"(*r)                                  \
                         : [a] "m"(*a), [b] "m"(*b), [cw] "m"(cw)                        \
                         : CLOB);                                                        \
        return sw;                                                                       \
    }

OP2POP(x87_patan, "fpatan")
OP2POP(x87_yl2x, "fyl2x")
OP2POP(x87_yl2xp1, "fyl2xp1")

/* FXTRACT/FPTAN/FSINCOS push: r[0] = new ST(0), r[1] = new ST(1). */
#define OPPUSH(name, insn)                                                               \
    uint16_t name(const f80 *a, uint16_t cw, f80 *r)                                     \
    {                                                                                    \
        uint16_t sw;                                                                     \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[a]\n\t" insn                   \
                         "\n\tfnstsw %[sw]\n\tfnclex\n\tfstpt %[r0]\n\tfstpt %[r1]\n\t"  \
                         : [sw] "=m"(sw), [r0] "=m"(r[0]), [r1] "=m"(r[1])              \
                         : [a] "m"(*a), [cw] "m"(cw)                                     \
                         : CLOB);                                                        \
        return sw;                                                                       \
    }

OPPUSH(x87_xtract, "fxtract")
OPPUSH(x87_ptan, "fptan")
OPPUSH(x87_sincos, "fsincos")

/* Loads: FILD m16/m32/m64, FLD m32/m64, FBLD m80 (source bytes in *src). */
#define LOAD(name, insn)                                                                 \
    uint16_t name(const void *src, uint16_t cw, f80 *r)                                  \
    {                                                                                    \
        uint16_t sw;                                                                     \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\t" insn " %[s]\n\t"                    \
                         "fnstsw %[sw]\n\tfnclex\n\tfstpt %[r]\n\t"                      \
                         : [sw] "=m"(sw), [r] "=m"(*r)                                  \
                         : [s] "m"(*(const uint8_t(*)[10])src), [cw] "m"(cw)             \
                         : CLOB);                                                        \
        return sw;                                                                       \
    }

LOAD(x87_fild16, "filds")
LOAD(x87_fild32, "fildl")
LOAD(x87_fild64, "fildll")
LOAD(x87_fld32, "flds")
LOAD(x87_fld64, "fldl")
LOAD(x87_fbld, "fbld")

/* Stores: FISTP m16/m32/m64, FISTTP m16/m32/m64, FSTP m32/m64, FBSTP m80. The destination is pre-filled by the
 * caller so an unmasked exception (no store) is visible. */
#define STORE(name, insn)                                                                \
    uint16_t name(const f80 *a, uint16_t cw, void *dst)                                  \
    {                                                                                    \
        uint16_t sw;                                                                     \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[a]\n\t" insn " %[d]\n\t"       \
                         "fnstsw %[sw]\n\tfnclex\n\tfninit\n\t"                          \
                         : [sw] "=m"(sw), [d] "+m"(*(uint8_t(*)[10])dst)                 \
                         : [a] "m"(*a), [cw] "m"(cw)                                     \
                         : CLOB);                                                        \
        return sw;                                                                       \
    }

STORE(x87_fistp16, "fistps")
STORE(x87_fistp32, "fistpl")
STORE(x87_fistp64, "fistpll")
STORE(x87_fisttp16, "fisttps")
STORE(x87_fisttp32, "fisttpl")
STORE(x87_fisttp64, "fisttpll")
STORE(x87_fstp32, "fstps")
STORE(x87_fstp64, "fstpl")
STORE(x87_fbstp, "fbstp")

/* Constants: index 0..6 = FLD1, FLDL2T, FLDL2E, FLDPI, FLDLG2, FLDLN2, FLDZ. */
#define CONST(name, insn)                                                                \
    static uint16_t name(uint16_t cw, f80 *r)                                            \
    {                                                                                    \
        uint16_t sw;                                                                     \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\t" insn "\n\tfnstsw %[sw]\n\tfnclex\n\tfstpt %[r]\n\t" \
                         : [sw] "=m"(sw), [r] "=m"(*r)                                  \
                         : [cw] "m"(cw)                                                  \
                         : CLOB);                                                        \
        return sw;                                                                       \
    }

CONST(c_1, "fld1")
CONST(c_l2t, "fldl2t")
CONST(c_l2e, "fldl2e")
CONST(c_pi, "fldpi")
CONST(c_lg2, "fldlg2")
CONST(c_ln2, "fldln2")
CONST(c_z, "fldz")

uint16_t x87_const(int which, uint16_t cw, f80 *r)
{
    switch (which) {
    case 0: return c_1(cw, r);
    case 1: return c_l2t(cw, r);
    case 2: return c_l2e(cw, r);
    case 3: return c_pi(cw, r);
    case 4: return c_lg2(cw, r);
    case 5: return c_ln2(cw, r);
    default: return c_z(cw, r);
    }
}

/* Arithmetic with a memory operand: ST(0)=a, the m32/m64 operand from *m (FADD m32 ... FCOM m64). */
#define OPMEM(name, insn)                                                                \
    uint16_t name(const f80 *a, const void *m, uint16_t cw, f80 *r)                      \
    {                                                                                    \
        uint16_t sw;                                                                     \
        __asm__ volatile("fninit\n\tfldcw %[cw]\n\tfldt %[a]\n\t" insn " %[m]\n\t"       \
                         "fnstsw %[sw]\n\tfnclex\n\tfstpt %[r]\n\t"                      \
                         : [sw] "=m"(sw), [r] "=m"(*r)                                  \
                         : [a] "m"(*a), [m] "m"(*(const uint8_t(*)[8])m), [cw] "m"(cw)   \
                         : CLOB);                                                        \
        return sw;                                                                       \
    }

OPMEM(x87_fadds, "fadds")
OPMEM(x87_fsubs, "fsubs")
OPMEM(x87_fsubrs, "fsubrs")
OPMEM(x87_fmuls, "fmuls")
OPMEM(x87_fdivs, "fdivs")
OPMEM(x87_fdivrs, "fdivrs")
OPMEM(x87_fcoms, "fcoms")
OPMEM(x87_faddl, "faddl")
OPMEM(x87_fsubl, "fsubl")
OPMEM(x87_fsubrl, "fsubrl")
OPMEM(x87_fmull, "fmull")
OPMEM(x87_fdivl, "fdivl")
OPMEM(x87_fdivrl, "fdivrl")
OPMEM(x87_fcoml, "fcoml")
