// Two WebAssembly instructions the Go language has no word for, as Go's
// runtime writes them (src/runtime/sys_wasm.s). NOSPLIT and frameless: they
// never grow the goroutine stack, so cabi_realloc can use them (abi.go).

#include "textflag.h"

// func memoryGrow(pages int32) int32
TEXT ·memoryGrow(SB), NOSPLIT, $0-12
	Get SP
	I32Load pages+0(FP)
	GrowMemory
	I32Store ret+8(FP)
	RET

// func trap()
TEXT ·trap(SB), NOSPLIT, $0-0
	UNDEF
