// The canonical ABI, by hand: linear memory, `cabi_realloc`, and what keeps
// memory the host is writing into, or reading from, alive and in place.
//
// Three rules of the component model and of Go's runtime shape this file:
//
//   - The host calls `cabi_realloc` to place an export's arguments and an
//     import's results (strings, lists) in this module's memory, and it runs
//     it, like the post-return functions, with the instance's may-leave flag
//     cleared: any import called then traps ("cannot leave component
//     instance"). Go's allocator may call one: starting a garbage collection,
//     scavenging or growing a goroutine stack reads the clock (WASI
//     clock_time_get, through the adapter). So neither uses Go's heap: the
//     memory cabi_realloc hands out comes from pages it takes itself with
//     memory.grow, by integer arithmetic in nosplit functions that cannot
//     grow the stack; the post-return functions only set a flag.
//   - The collector never moves heap objects, but it frees those nothing in Go
//     refers to, and it moves goroutine stacks. What the host reads (an
//     import's arguments, an export's results) is on the heap, kept alive by
//     an arena until the host is done with it; return areas are package
//     variables. An address handed to the host is a uint32 the collector does
//     not see.
//   - Addresses from the host stay uint32 and become Go pointers only to read
//     or write at once (a small integer held as a pointer, such as the `1` the
//     host may pass for an empty list, would trip the collector).
//
// Go's runtime and the WASI adapter take pages with memory.grow too; the
// runtime is patched to keep its heap off pages it did not take itself (see
// go-runtime-wasm-memory.patch and build.sh).

package main

import (
	"runtime"
	"unicode/utf8"
	"unsafe"
)

// ---------------------------------------------------------------------------
// Linear memory

// at is the Go pointer for a linear-memory address, to be dereferenced at once.
//
//go:nosplit
func at(addr uint32) unsafe.Pointer { return unsafe.Pointer(uintptr(addr)) }

// addrOf is the linear-memory address of a Go pointer.
func addrOf(p unsafe.Pointer) uint32 { return uint32(uintptr(p)) }

func load8(addr uint32) uint8         { return *(*uint8)(at(addr)) }
func load32(addr uint32) uint32       { return *(*uint32)(at(addr)) }
func load64(addr uint32) uint64       { return *(*uint64)(at(addr)) }
func store8(addr uint32, v uint8)     { *(*uint8)(at(addr)) = v }
func store32(addr uint32, v uint32)   { *(*uint32)(at(addr)) = v }
func storeBool(addr uint32, v bool)   { store8(addr, b2u8(v)) }
func storeChar(addr uint32, r rune)   { store32(addr, uint32(r)) }
func storeStr(addr uint32, s lowered) { store32(addr, s.ptr); store32(addr+4, s.len) }

func b2u8(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// liftString copies the string the host wrote at addr (UTF-8, as the canonical
// ABI guarantees). An empty string's address is never dereferenced: it may be
// any aligned value.
func liftString(addr, n uint32) string {
	if n == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(at(addr)), n))
}

// Implemented in memory_wasm.s.
func memoryGrow(pages int32) int32 // memory.grow: the old size in pages, or -1
func trap()                        // unreachable

// ---------------------------------------------------------------------------
// cabi_realloc: memory the host allocates in this module

const (
	pageSize         = 64 << 10
	firstRegionPages = 4 // 256 KiB
)

// hostRegion is a run of pages cabi_realloc took with memory.grow: [base, end).
type hostRegion struct{ base, end uint64 }

// The regions taken so far, each at least twice as large as the one before (so
// 16 of them would pass the 4 GiB a memory can have), and the place the next
// block comes from. The regions are never given back: once the code that asked
// for the host's data has copied it out, they are reused (resetHostMemory).
var (
	hostRegions  [32]hostRegion
	hostRegionsN uint32 // regions taken
	hostCur      uint32 // the region blocks come from
	hostNext     uint64 // the next free address in it
)

// cabiRealloc is the canonical ABI's allocator. It never frees: a block lives
// until resetHostMemory. The host never asks it to grow a block here (it does
// only to transcode strings, and both sides use UTF-8), but if it does, the
// bytes are copied.
//
//go:wasmexport cabi_realloc
//go:nosplit
func cabiRealloc(oldAddr, oldSize, align, newSize uint32) uint32 {
	if align == 0 || align&(align-1) != 0 || align > 8 {
		trap()
	}
	if newSize == 0 {
		return align // nothing is read or written there: any aligned address does
	}
	addr := hostAlloc(uint64(newSize), uint64(align))
	for i := uint32(0); i < oldSize && i < newSize; i++ {
		*(*byte)(at(addr + i)) = *(*byte)(at(oldAddr + i))
	}
	return addr
}

// hostAlloc returns the address of size free bytes aligned to align (at most
// 8), from the current region or the next one with room, or from a new one.
//
//go:nosplit
func hostAlloc(size, align uint64) uint32 {
	for hostCur < hostRegionsN {
		start := (hostNext + align - 1) &^ (align - 1)
		if start+size <= hostRegions[hostCur].end {
			hostNext = start + size
			return uint32(start)
		}
		hostCur++
		if hostCur < hostRegionsN {
			hostNext = hostRegions[hostCur].base
		}
	}
	if hostRegionsN == uint32(len(hostRegions)) {
		trap()
	}
	pages := uint64(firstRegionPages)
	if hostRegionsN > 0 {
		last := hostRegions[hostRegionsN-1]
		pages = 2 * (last.end - last.base) / pageSize
	}
	pages = max(pages, (size+pageSize-1)/pageSize) // a region's base is page-aligned
	if pages > 1<<16 {
		trap()
	}
	old := memoryGrow(int32(pages))
	if old < 0 {
		trap() // out of memory (the host's [limits] memory_mb)
	}
	base := uint64(old) * pageSize
	hostRegions[hostRegionsN] = hostRegion{base, base + pages*pageSize}
	hostCur = hostRegionsN
	hostRegionsN++
	hostNext = base + size
	return uint32(base)
}

// resetHostMemory makes all the memory cabi_realloc handed out free again:
// called once what the host wrote there has been copied into Go values.
func resetHostMemory() {
	hostCur = 0
	if hostRegionsN > 0 {
		hostNext = hostRegions[0].base
	}
}

// ---------------------------------------------------------------------------
// Lowering: memory this module hands to the host

// lowered is a string or list as the ABI passes it: address and length.
type lowered struct{ ptr, len uint32 }

// arena keeps the buffers handed to the host alive until the host is done with
// them: an import's arguments until the import returns, an export's results
// until the next export (the post-return functions may not release them, see
// above). Appending a buffer here also makes it escape to the heap, so it
// never sits on a stack that could move.
type arena struct{ bufs [][]byte }

// str copies s into a new heap buffer owned by the arena and returns its
// address and length. Invalid UTF-8 (the host traps on it) becomes U+FFFD.
func (a *arena) str(s string) lowered {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // each invalid byte becomes U+FFFD
	}
	if len(s) == 0 {
		return lowered{0, 0}
	}
	buf := []byte(s)
	a.bufs = append(a.bufs, buf)
	return lowered{addrOf(unsafe.Pointer(unsafe.SliceData(buf))), uint32(len(buf))}
}

// block returns a zeroed heap block of n bytes, 8-aligned (a []uint64), owned
// by the arena, for a list or a record the host reads.
func (a *arena) block(n uint32) uint32 {
	words := make([]uint64, (uint64(n)+7)/8+1) // never empty
	buf := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), 8*len(words))
	a.bufs = append(a.bufs, buf)
	return addrOf(unsafe.Pointer(unsafe.SliceData(buf)))
}

// release drops the arena's buffers: the host no longer reads them.
func (a *arena) release() {
	runtime.KeepAlive(a.bufs)
	clear(a.bufs)
	a.bufs = a.bufs[:0]
}

// importArgs holds an import call's lowered arguments. Imports are never
// nested: cabi_realloc, the only Go code that runs inside one, calls none.
var importArgs arena

// exportResults holds what the last export returned; exportResultsTaken says
// whether the host has run that export's post-return function since.
var (
	exportResults      arena
	exportResultsTaken = true
)

// Return areas: where the results of an import (the return pointer) or of an
// export (the returned address) are written. Package variables: they never
// move, and a uint64 array is 8-aligned. 32 bytes is the largest result used
// here: result<load-stats, error>.
var (
	importRet [4]uint64
	exportRet [4]uint64
)

func importRetAddr() uint32 {
	importRet = [4]uint64{}
	return addrOf(unsafe.Pointer(&importRet))
}

func exportRetAddr() uint32 {
	exportRet = [4]uint64{}
	exportResultsTaken = false
	return addrOf(unsafe.Pointer(&exportRet))
}
