#include "textflag.h"

// func prefetchLines(addr, n uintptr)
//
// PREFETCHT0 each of n cache lines from addr: a hint, which never faults,
// so a stale address costs nothing but the fetch.
TEXT ·prefetchLines(SB), NOSPLIT, $0-16
	MOVQ addr+0(FP), AX
	MOVQ n+8(FP), CX
	TESTQ CX, CX
	JZ   done

loop:
	PREFETCHT0 (AX)
	ADDQ $64, AX
	DECQ CX
	JNZ  loop

done:
	RET
