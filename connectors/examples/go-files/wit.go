// Hand-written bindings of the WIT world `source` (wit/ at the repository's
// root), for only the imports and exports this connector uses. Each function
// says the WIT it stands for; each layout follows the canonical ABI for wasm32:
//
//   - a string or list is (address: u32, length: u32), 8 bytes, aligned 4;
//   - a variant (result, option, enum, `error`) is its discriminant (u8 here,
//     each has fewer than 256 cases) then its payload at the discriminant's
//     size rounded up to the largest alignment of its cases;
//   - results that flatten to more than one core value come back through a
//     return area: an import writes them at the address passed as its last
//     argument, an export returns the address where it wrote them;
//   - arguments that flatten to more than 16 core values (output.load's) are
//     passed in memory, as a record, by address.

package main

// ---------------------------------------------------------------------------
// Types (interface `types`, and the records used from `files`, `output`,
// `connector`)

// errorKind is a case of the WIT variant `types.error`, in declaration order.
type errorKind uint8

const (
	errConfig errorKind = iota
	errAuth
	errTransient
	errDenied
	errData
	errPaused
	errOther
	errorKinds // the number of cases
)

var errorKindNames = [errorKinds]string{"config", "auth", "transient", "denied", "data", "paused", "other"}

// hwError is the WIT `error`: a case and its human-readable message.
type hwError struct {
	kind errorKind
	msg  string
}

func (e *hwError) Error() string { return errorKindNames[e.kind] + ": " + e.msg }

// liftError reads an `error` at addr: discriminant at 0, message at 4.
// 12 bytes, aligned 4.
func liftError(addr uint32) *hwError {
	kind := errorKind(load8(addr))
	if kind >= errorKinds {
		panic("the host returned an unknown error case")
	}
	return &hwError{kind, liftString(load32(addr+4), load32(addr+8))}
}

// lowerError writes an `error` at addr; its message is kept by `owner`.
func lowerError(owner *arena, addr uint32, e *hwError) {
	store8(addr, uint8(e.kind))
	storeStr(addr+4, owner.str(e.msg))
}

// level is the WIT enum `types.level`.
type level uint32

const (
	levelTrace level = iota
	levelDebug
	levelInfo
	levelWarn
	levelError
)

// entry is `files.entry`: path at 0, size (u64) at 8, modified-ms (s64) at 16;
// 24 bytes, aligned 8.
type entry struct {
	path       string
	size       uint64
	modifiedMs int64
}

// loadStats is `output.load-stats`: three u64, 24 bytes, aligned 8.
type loadStats struct{ rows, badRows, bytes uint64 }

// fileFormat and compression are the WIT enums of `output`.
type fileFormat uint8
type compression uint8

// badRows is the WIT enum `output.bad-rows`.
type badRows uint8

const (
	badRowsFail badRows = iota
	badRowsSkip
)

// csvOptions is `output.csv-options`. Nil pointers are `none`.
type csvOptions struct {
	header           bool
	delimiter        rune
	quote            rune
	escape           *rune
	nullValues       []string
	comment          *rune
	timestampFormats [][2]string
}

// loadOptions is `output.load-options`. Nil pointers are `none`.
type loadOptions struct {
	format      *fileFormat
	compression *compression
	csv         csvOptions
	badRows     badRows
	partition   [][2]string
	inferRows   uint32
}

// field and streamInfo are `connector.field` and `connector.stream-info`.
type field struct {
	name     string
	dataType string
	nullable bool
}

type streamInfo struct {
	name        string
	fields      []field
	primaryKey  []string
	cursorField *string
}

// connectorSpec is `connector.connector-spec`.
type connectorSpec struct{ name, version, description, configSchema string }

// ---------------------------------------------------------------------------
// Lowering helpers for lists, options and tuples

// strList lowers list<string>: a block of (address, length) pairs.
func (a *arena) strList(items []string) lowered {
	if len(items) == 0 {
		return lowered{0, 0}
	}
	base := a.block(8 * uint32(len(items)))
	for i, s := range items {
		storeStr(base+8*uint32(i), a.str(s))
	}
	return lowered{base, uint32(len(items))}
}

// pairList lowers list<tuple<string, string>>: 16 bytes an element, aligned 4.
func (a *arena) pairList(items [][2]string) lowered {
	if len(items) == 0 {
		return lowered{0, 0}
	}
	base := a.block(16 * uint32(len(items)))
	for i, p := range items {
		storeStr(base+16*uint32(i), a.str(p[0]))
		storeStr(base+16*uint32(i)+8, a.str(p[1]))
	}
	return lowered{base, uint32(len(items))}
}

// storeOptionChar writes option<char>: discriminant at 0, char at 4; 8 bytes.
func storeOptionChar(addr uint32, r *rune) {
	if r == nil {
		store8(addr, 0)
		return
	}
	store8(addr, 1)
	storeChar(addr+4, *r)
}

// storeOptionEnum writes option<enum of fewer than 256 cases>: discriminant at
// 0, case at 1; 2 bytes, aligned 1.
func storeOptionEnum(addr uint32, some bool, v uint8) {
	store8(addr, b2u8(some))
	if some {
		store8(addr+1, v)
	}
}

// ---------------------------------------------------------------------------
// Imports: interface files

//go:wasmimport headwater:connector/files@0.1.0 list
func wasmFilesList(rootPtr, rootLen, globPtr, globLen, ret uint32)

// filesList is `files.list: func(root: string, glob: string) -> result<list<entry>, error>`.
// Result: discriminant at 0; ok: list at 4; error at 4. 16 bytes.
func filesList(root, glob string) ([]entry, *hwError) {
	r, g := importArgs.str(root), importArgs.str(glob)
	ret := importRetAddr()
	wasmFilesList(r.ptr, r.len, g.ptr, g.len, ret)
	importArgs.release()
	defer resetHostMemory()
	switch load8(ret) {
	case 0:
		base, n := load32(ret+4), load32(ret+8)
		entries := make([]entry, n)
		for i := range n {
			e := base + 24*i
			entries[i] = entry{liftString(load32(e), load32(e+4)), load64(e + 8), int64(load64(e + 16))}
		}
		return entries, nil
	case 1:
		return nil, liftError(ret + 4)
	}
	panic("files.list: bad result discriminant")
}

// ---------------------------------------------------------------------------
// Imports: interface state

//go:wasmimport headwater:connector/state@0.1.0 get
func wasmStateGet(streamPtr, streamLen, ret uint32)

// stateGet is `state.get: func(stream: string) -> option<string>`.
// Result: discriminant at 0, string at 4. 12 bytes.
func stateGet(stream string) (string, bool) {
	s := importArgs.str(stream)
	ret := importRetAddr()
	wasmStateGet(s.ptr, s.len, ret)
	importArgs.release()
	defer resetHostMemory()
	switch load8(ret) {
	case 0:
		return "", false
	case 1:
		return liftString(load32(ret+4), load32(ret+8)), true
	}
	panic("state.get: bad option discriminant")
}

// ---------------------------------------------------------------------------
// Imports: interface output

//go:wasmimport headwater:connector/output@0.1.0 load
func wasmOutputLoad(args, ret uint32)

// outputLoad is `output.load: func(stream: string, root: string, path: string,
// options: load-options) -> result<load-stats, error>`.
//
// Its arguments flatten to 25 core values, more than 16, so they go in memory
// as a record of 88 bytes, aligned 4:
//
//	 0 stream, 8 root, 16 path (strings)
//	24 options (load-options, 64 bytes):
//	    +0 format (option<file-format>), +2 compression (option<compression>)
//	    +4 csv (csv-options, 44 bytes): +0 header (bool), +4 delimiter (char),
//	       +8 quote (char), +12 escape (option<char>), +20 null-values
//	       (list<string>), +28 comment (option<char>), +36 timestamp-formats
//	       (list<tuple<string, string>>)
//	    +48 bad-rows (enum), +52 partition (list<tuple<string, string>>),
//	    +60 infer-rows (u32)
//
// Result: discriminant at 0; ok: load-stats at 8; error at 8. 32 bytes, aligned 8.
func outputLoad(stream, root, path string, o *loadOptions) (loadStats, *hwError) {
	args := importArgs.block(88)
	storeStr(args, importArgs.str(stream))
	storeStr(args+8, importArgs.str(root))
	storeStr(args+16, importArgs.str(path))
	opt := args + 24
	if o.format != nil {
		storeOptionEnum(opt, true, uint8(*o.format))
	} else {
		storeOptionEnum(opt, false, 0)
	}
	if o.compression != nil {
		storeOptionEnum(opt+2, true, uint8(*o.compression))
	} else {
		storeOptionEnum(opt+2, false, 0)
	}
	csv := opt + 4
	storeBool(csv, o.csv.header)
	storeChar(csv+4, o.csv.delimiter)
	storeChar(csv+8, o.csv.quote)
	storeOptionChar(csv+12, o.csv.escape)
	storeStr(csv+20, importArgs.strList(o.csv.nullValues))
	storeOptionChar(csv+28, o.csv.comment)
	storeStr(csv+36, importArgs.pairList(o.csv.timestampFormats))
	store8(opt+48, uint8(o.badRows))
	storeStr(opt+52, importArgs.pairList(o.partition))
	store32(opt+60, o.inferRows)

	ret := importRetAddr()
	wasmOutputLoad(args, ret)
	importArgs.release()
	defer resetHostMemory()
	switch load8(ret) {
	case 0:
		return loadStats{load64(ret + 8), load64(ret + 16), load64(ret + 24)}, nil
	case 1:
		return loadStats{}, liftError(ret + 8)
	}
	panic("output.load: bad result discriminant")
}

//go:wasmimport headwater:connector/output@0.1.0 checkpoint
func wasmOutputCheckpoint(streamPtr, streamLen, statePtr, stateLen, ret uint32)

// outputCheckpoint is `output.checkpoint: func(stream: string, state: string) -> result<_, error>`.
// Result: discriminant at 0, error at 4. 16 bytes.
func outputCheckpoint(stream, state string) *hwError {
	s, st := importArgs.str(stream), importArgs.str(state)
	ret := importRetAddr()
	wasmOutputCheckpoint(s.ptr, s.len, st.ptr, st.len, ret)
	importArgs.release()
	defer resetHostMemory()
	switch load8(ret) {
	case 0:
		return nil
	case 1:
		return liftError(ret + 4)
	}
	panic("output.checkpoint: bad result discriminant")
}

//go:wasmimport headwater:connector/output@0.1.0 log
func wasmOutputLog(level, msgPtr, msgLen uint32)

// outputLog is `output.log: func(level: level, message: string)`.
func outputLog(lv level, msg string) {
	m := importArgs.str(msg)
	wasmOutputLog(uint32(lv), m.ptr, m.len)
	importArgs.release()
}

//go:wasmimport headwater:connector/output@0.1.0 progress
func wasmOutputProgress(streamPtr, streamLen uint32, done uint64, hasTotal uint32, total uint64)

// outputProgress is `output.progress: func(stream: string, done: u64, total: option<u64>)`:
// the option flattens to (discriminant, value).
func outputProgress(stream string, done uint64, total *uint64) {
	s := importArgs.str(stream)
	var has uint32
	var t uint64
	if total != nil {
		has, t = 1, *total
	}
	wasmOutputProgress(s.ptr, s.len, done, has, t)
	importArgs.release()
}

// ---------------------------------------------------------------------------
// Exports: interface connector
//
// An export first copies its arguments out of the memory the host allocated
// with cabi_realloc, then frees all of it; what it returns stays alive in
// `exportResults` until the next export (after the host has copied it and run
// the export's `cabi_post_*` function).

// beginExport drops what the previous export returned, which the host has
// copied by now (its post-return function ran), and checks that no import
// call is pending.
func beginExport() {
	if !exportResultsTaken || len(importArgs.bufs) != 0 {
		panic("an export was called during an import call, or before the previous export's post-return")
	}
	exportResults.release()
}

// liftStrList copies list<string> out of host memory.
func liftStrList(base, n uint32) []string {
	items := make([]string, n)
	for i := range n {
		items[i] = liftString(load32(base+8*i), load32(base+8*i+4))
	}
	return items
}

// returnUnit lowers result<_, error>: discriminant at 0, error at 4. 16 bytes.
func returnUnit(err *hwError) uint32 {
	ret := exportRetAddr()
	if err == nil {
		store8(ret, 0)
		return ret
	}
	store8(ret, 1)
	lowerError(&exportResults, ret+4, err)
	return ret
}

// `spec: func() -> connector-spec`: four strings at 0, 8, 16, 24.
//
//go:wasmexport headwater:connector/connector@0.1.0#spec
func exportSpec() uint32 {
	beginExport()
	s := spec()
	ret := exportRetAddr()
	storeStr(ret, exportResults.str(s.name))
	storeStr(ret+8, exportResults.str(s.version))
	storeStr(ret+16, exportResults.str(s.description))
	storeStr(ret+24, exportResults.str(s.configSchema))
	return ret
}

// `check: func(config: string) -> result<_, error>`.
//
//go:wasmexport headwater:connector/connector@0.1.0#check
func exportCheck(configPtr, configLen uint32) uint32 {
	beginExport()
	config := liftString(configPtr, configLen)
	resetHostMemory()
	return returnUnit(check(config))
}

// `discover: func(config: string) -> result<list<stream-info>, error>`.
// Result: discriminant at 0; ok: list at 4; error at 4. 16 bytes. A
// stream-info is 36 bytes, aligned 4: name at 0, fields (list<field>) at 8,
// primary-key (list<string>) at 16, cursor-field (option<string>: discriminant
// at 24, string at 28). A field is 20 bytes: name at 0, data-type at 8,
// nullable (bool) at 16.
//
//go:wasmexport headwater:connector/connector@0.1.0#discover
func exportDiscover(configPtr, configLen uint32) uint32 {
	beginExport()
	config := liftString(configPtr, configLen)
	resetHostMemory()
	streams, err := discover(config)
	if err != nil {
		return returnUnit(err) // the error case has the same layout
	}
	a := &exportResults
	var list uint32
	if len(streams) > 0 {
		list = a.block(36 * uint32(len(streams)))
	}
	for i, s := range streams {
		info := list + 36*uint32(i)
		storeStr(info, a.str(s.name))
		if len(s.fields) > 0 {
			fields := a.block(20 * uint32(len(s.fields)))
			for j, f := range s.fields {
				fa := fields + 20*uint32(j)
				storeStr(fa, a.str(f.name))
				storeStr(fa+8, a.str(f.dataType))
				storeBool(fa+16, f.nullable)
			}
			storeStr(info+8, lowered{fields, uint32(len(s.fields))})
		}
		storeStr(info+16, a.strList(s.primaryKey))
		if s.cursorField != nil {
			store8(info+24, 1)
			storeStr(info+28, a.str(*s.cursorField))
		}
	}
	ret := exportRetAddr()
	store8(ret, 0)
	storeStr(ret+4, lowered{list, uint32(len(streams))})
	return ret
}

// `read: func(config: string, streams: list<string>) -> result<_, error>`.
//
//go:wasmexport headwater:connector/connector@0.1.0#read
func exportRead(configPtr, configLen, streamsPtr, streamsLen uint32) uint32 {
	beginExport()
	config := liftString(configPtr, configLen)
	streams := liftStrList(streamsPtr, streamsLen)
	resetHostMemory()
	return returnUnit(read(config, streams))
}

// The post-return functions run once the host has copied an export's results
// out of the return area whose address each gets. Like cabi_realloc they run
// with the instance's may-leave flag cleared, so they only set a flag (no
// pointer write, whose write barrier could reach the allocator): the next
// export releases the buffers.

//go:wasmexport cabi_post_headwater:connector/connector@0.1.0#spec
//go:nosplit
func postSpec(uint32) { exportResultsTaken = true }

//go:wasmexport cabi_post_headwater:connector/connector@0.1.0#check
//go:nosplit
func postCheck(uint32) { exportResultsTaken = true }

//go:wasmexport cabi_post_headwater:connector/connector@0.1.0#discover
//go:nosplit
func postDiscover(uint32) { exportResultsTaken = true }

//go:wasmexport cabi_post_headwater:connector/connector@0.1.0#read
//go:nosplit
func postRead(uint32) { exportResultsTaken = true }
