// go-files: a file connector in Go.
//
// Loads the files matching a glob under a file root the pipeline grants
// (`[allow] files`), in path order, into one stream. The host decodes each file
// natively (`output.load`); the connector only decides what to load. After each
// file it checkpoints `{"last":"<path>"}`, so a rerun (or a run after a crash)
// loads only the files whose path sorts after the last one committed: new
// files must sort last, as date-partitioned exports (`dt=2025-01-02/...`) do.
//
// Config (validated by the host against the schema in `spec` below), e.g.
//
//	{"root": "./exports", "glob": "dt=2025-01-0[1-9]/orders.csv", "stream": "files"}
//
// root: a root of the pipeline's `[allow] files`, exactly as written there;
// glob: the files under it to load (`*` stays within a folder, `**` crosses
// folders); stream: the stream they load into, "files" when absent.
//
// It is built with Go's wasip1 port as a reactor (-buildmode=c-shared) and
// made a component with wasm-tools (see build.sh). The bindings of the WIT
// world are written by hand in wit.go, on the canonical ABI helpers of abi.go.
// A failing import's error is returned as this connector's own, same case and
// message, so the user sees what the host refused and why.

package main

import (
	"sort"
	"strconv"
)

const (
	defaultStream = "files"
	// Rows sampled to infer a CSV's column types, as the Rust SDK does.
	inferRows = 1000
)

// main is never called: a reactor only initializes its packages.
func main() {}

const configSchema = `{"type":"object","required":["root","glob"],"additionalProperties":false,` +
	`"properties":{` +
	`"root":{"type":"string","minLength":1,` +
	`"description":"A file root of the pipeline's [allow] files, exactly as written there"},` +
	`"glob":{"type":"string","minLength":1,` +
	`"description":"The files to load, relative to the root, e.g. dt=*/*.csv"},` +
	`"stream":{"type":"string","minLength":1,"default":"` + defaultStream + `",` +
	`"description":"The stream the files load into"}}}`

func spec() connectorSpec {
	return connectorSpec{
		name:         "go-files",
		version:      "0.1.0",
		description:  "Files under a granted root, loaded in path order, written in Go",
		configSchema: configSchema,
	}
}

// ---------------------------------------------------------------------------
// Config

type config struct {
	root   string // a root of the pipeline's `[allow] files`, as written there
	glob   string // files under the root to load, e.g. `*.csv`
	stream string // the stream they load into
}

// configField reads one string field of the config; fallback when it is
// absent ("" when it is required). The host has validated the config against
// the schema, but this code does not rely on it: anything unexpected is a
// `config` error.
func configField(json, key, fallback string) (string, *hwError) {
	v, found := jsonStringField(json, key)
	switch {
	case found == jsonString && v != "":
		return v, nil
	case found == jsonString:
		return "", &hwError{errConfig, "`" + key + "` is empty"}
	case found == jsonAbsent && fallback != "":
		return fallback, nil
	case found == jsonAbsent:
		return "", &hwError{errConfig, "`" + key + "` is missing"}
	}
	return "", &hwError{errConfig, "the config is not a JSON object whose `" + key + "` is a string"}
}

func parseConfig(json string) (c config, err *hwError) {
	if c.root, err = configField(json, "root", ""); err != nil {
		return
	}
	if c.glob, err = configField(json, "glob", ""); err != nil {
		return
	}
	c.stream, err = configField(json, "stream", defaultStream)
	return
}

// ---------------------------------------------------------------------------
// The exports

func check(configJSON string) *hwError {
	c, err := parseConfig(configJSON)
	if err != nil {
		return err
	}
	// The host's error, if any, is ours: same case, same message.
	_, err = filesList(c.root, c.glob)
	return err
}

// discover: one stream, no declared fields (the host infers the schema from
// the files), no primary key, no cursor field.
func discover(configJSON string) ([]streamInfo, *hwError) {
	c, err := parseConfig(configJSON)
	if err != nil {
		return nil, err
	}
	return []streamInfo{{name: c.stream}}, nil
}

func read(configJSON string, streams []string) *hwError {
	c, err := parseConfig(configJSON)
	if err != nil {
		return err
	}
	// The streams asked for; none named means all, and this connector has one.
	asked := len(streams) == 0
	for _, s := range streams {
		asked = asked || s == c.stream
	}
	if !asked {
		return nil
	}
	return readStream(&c)
}

// defaultLoadOptions are the host's defaults: format and compression from the
// file's extension; CSV with a header, `,` and `"` (no escape character, no
// null markers, no comments); a malformed row fails the load, naming the file,
// line and column; column types inferred from the first rows.
func defaultLoadOptions() loadOptions {
	return loadOptions{
		csv:       csvOptions{header: true, delimiter: ',', quote: '"'},
		badRows:   badRowsFail,
		inferRows: inferRows,
	}
}

// readStream loads the stream's files after the last one checkpointed.
func readStream(c *config) *hwError {
	// 1. Where the last run stopped: the state this connector checkpointed.
	last, hasLast := "", false
	if state, ok := stateGet(c.stream); ok {
		v, found := jsonStringField(state, "last")
		if found != jsonString {
			return &hwError{errData, "stream `" + c.stream + "`: its state " + state +
				` is not {"last": "<path>"}: was it written by another connector?`}
		}
		last, hasLast = v, true
	}

	// 2. The matching files. On failure the host's error is ours unchanged.
	entries, err := filesList(c.root, c.glob)
	if err != nil {
		return err
	}
	// The host lists them sorted by path already; sorting again (byte-wise,
	// the host's order) keeps "after the last path" right whatever the order.
	sort.Slice(entries, func(a, b int) bool { return entries[a].path < entries[b].path })

	// 3. Each file after the last one loaded.
	options := defaultLoadOptions()
	var files, skipped, rows uint64
	for _, e := range entries {
		if hasLast && e.path <= last {
			skipped++
			continue
		}
		stats, err := outputLoad(c.stream, c.root, e.path, &options)
		if err != nil {
			return err
		}
		outputLog(levelInfo, c.stream+": loaded "+e.path+" ("+u64(stats.rows)+" rows, "+u64(stats.bytes)+" bytes)")
		// Commit this file's rows together with the state that skips it next time.
		if err := outputCheckpoint(c.stream, `{"last":`+jsonQuote(e.path)+`}`); err != nil {
			return err
		}
		files++
		rows += stats.rows
		outputProgress(c.stream, rows, nil)
	}
	outputLog(levelInfo, c.stream+": "+u64(files)+" file(s) loaded, "+u64(rows)+" row(s); "+u64(skipped)+" already loaded")
	return nil
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }
