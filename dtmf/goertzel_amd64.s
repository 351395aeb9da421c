#include "go_asm.h"
#include "textflag.h"

// Registers in goertzelFeedSSE2:
//   X0–X7   s1 and s2, two frequencies per register (see SAMPLE)
//   X8–X11  the coefficients 2·cos ω, frequencies 0–1, 2–3, 4–5, 6–7
//   X12     the sample v in both lanes
//   X13     scratch
//   X14     energy (low lane) and sum (high lane)
//   BX      the next sample, CX how many are left minus two
//
// X15 is left alone: ABIInternal code expects it to hold zero.

// BIN advances two frequencies one sample: with S1 and S2 their s1 and s2,
// and C their coefficients, it leaves s1' = c·s1 + (v − s2) in S2, and
// S1 is s2' = s1 as it stands. The operands are in feedGeneric's order
// (the first is the destination, which decides which NaN an add returns).
#define BIN(S1, S2, C) \
	MOVAPD X12, X13; \
	SUBPD  S2, X13; \
	MOVAPD C, S2; \
	MULPD  S1, S2; \
	ADDPD  X13, S2

// SAMPLE consumes the sample at off(BX) with s1 in A0–A3 and s2 in B0–B3.
// BIN writes the new s1 over the old s2, so afterwards s1 is in B0–B3 and
// s2 in A0–A3: the loop takes two samples, the second with the roles
// swapped, and the registers are back where they started without a move.
// MULSD multiplies only the low lane, so X13 = [v·v, v] for the
// energy-and-sum add.
#define SAMPLE(off, A0, A1, A2, A3, B0, B1, B2, B3) \
	MOVWLSX  off(BX), AX; \
	XORPS    X12, X12; \
	CVTSL2SD AX, X12; \
	UNPCKLPD X12, X12; \
	MOVAPD   X12, X13; \
	MULSD    X12, X13; \
	ADDPD    X13, X14; \
	BIN(A0, B0, X8); \
	BIN(A1, B1, X9); \
	BIN(A2, B2, X10); \
	BIN(A3, B3, X11)

// func goertzelFeedSSE2(bank *goertzelBank, coef *[8]float64, xs []int16)
TEXT ·goertzelFeedSSE2(SB), NOSPLIT, $0-40
	MOVQ bank+0(FP), DI
	MOVQ coef+8(FP), SI
	MOVQ xs_base+16(FP), BX
	MOVQ xs_len+24(FP), CX

	MOVUPD 0(SI), X8
	MOVUPD 16(SI), X9
	MOVUPD 32(SI), X10
	MOVUPD 48(SI), X11

	MOVUPD goertzelBank_s1+0(DI), X0
	MOVUPD goertzelBank_s1+16(DI), X1
	MOVUPD goertzelBank_s1+32(DI), X2
	MOVUPD goertzelBank_s1+48(DI), X3
	MOVUPD goertzelBank_s2+0(DI), X4
	MOVUPD goertzelBank_s2+16(DI), X5
	MOVUPD goertzelBank_s2+32(DI), X6
	MOVUPD goertzelBank_s2+48(DI), X7
	MOVSD  goertzelBank_energy(DI), X14
	MOVHPD goertzelBank_sum(DI), X14

	SUBQ $2, CX
	JLT  tail

pairs:
	SAMPLE(0, X0, X1, X2, X3, X4, X5, X6, X7)
	SAMPLE(2, X4, X5, X6, X7, X0, X1, X2, X3)
	ADDQ $4, BX
	SUBQ $2, CX
	JGE  pairs

tail:
	// CX is −1 if one sample is left, −2 if none.
	CMPQ CX, $-1
	JNE  even
	SAMPLE(0, X0, X1, X2, X3, X4, X5, X6, X7)
	MOVUPD X4, goertzelBank_s1+0(DI)
	MOVUPD X5, goertzelBank_s1+16(DI)
	MOVUPD X6, goertzelBank_s1+32(DI)
	MOVUPD X7, goertzelBank_s1+48(DI)
	MOVUPD X0, goertzelBank_s2+0(DI)
	MOVUPD X1, goertzelBank_s2+16(DI)
	MOVUPD X2, goertzelBank_s2+32(DI)
	MOVUPD X3, goertzelBank_s2+48(DI)
	JMP    done

even:
	MOVUPD X0, goertzelBank_s1+0(DI)
	MOVUPD X1, goertzelBank_s1+16(DI)
	MOVUPD X2, goertzelBank_s1+32(DI)
	MOVUPD X3, goertzelBank_s1+48(DI)
	MOVUPD X4, goertzelBank_s2+0(DI)
	MOVUPD X5, goertzelBank_s2+16(DI)
	MOVUPD X6, goertzelBank_s2+32(DI)
	MOVUPD X7, goertzelBank_s2+48(DI)

done:
	MOVLPD X14, goertzelBank_energy(DI)
	MOVHPD X14, goertzelBank_sum(DI)
	RET
