// Enough JSON for this connector's config and state: the string value of a
// key of an object, and a string quoted as JSON. Written here rather than with
// encoding/json, which brings in package os and with it more WASI imports
// (the filesystem) than the Go runtime's own.

package main

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

const jsonMaxDepth = 32

type jsonReader struct {
	s string
	i int
}

func (j *jsonReader) ws() {
	for j.i < len(j.s) && (j.s[j.i] == ' ' || j.s[j.i] == '\t' || j.s[j.i] == '\n' || j.s[j.i] == '\r') {
		j.i++
	}
}

func (j *jsonReader) eat(c byte) bool {
	j.ws()
	if j.i < len(j.s) && j.s[j.i] == c {
		j.i++
		return true
	}
	return false
}

// str decodes the JSON string at j.i. False when it is not one, or holds
// \u0000, a lone surrogate or a raw control character.
func (j *jsonReader) str() (string, bool) {
	j.ws()
	if j.i >= len(j.s) || j.s[j.i] != '"' {
		return "", false
	}
	j.i++
	var out []byte
	for j.i < len(j.s) {
		c := j.s[j.i]
		j.i++
		switch {
		case c == '"':
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			continue
		}
		if j.i >= len(j.s) {
			return "", false
		}
		e := j.s[j.i]
		j.i++
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := j.hex4()
			if !ok || r == 0 || utf16.IsSurrogate(r) && r >= 0xDC00 {
				return "", false
			}
			if utf16.IsSurrogate(r) { // a high surrogate: its low one follows
				if j.i+1 >= len(j.s) || j.s[j.i] != '\\' || j.s[j.i+1] != 'u' {
					return "", false
				}
				j.i += 2
				low, ok := j.hex4()
				if !ok {
					return "", false
				}
				if r = utf16.DecodeRune(r, low); r == utf8.RuneError {
					return "", false
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (j *jsonReader) hex4() (rune, bool) {
	if j.i+4 > len(j.s) {
		return 0, false
	}
	v, err := strconv.ParseUint(j.s[j.i:j.i+4], 16, 32)
	if err != nil {
		return 0, false
	}
	j.i += 4
	return rune(v), true
}

// skip passes over one value of any kind.
func (j *jsonReader) skip(depth int) bool {
	j.ws()
	if j.i >= len(j.s) || depth > jsonMaxDepth {
		return false
	}
	switch c := j.s[j.i]; c {
	case '"':
		_, ok := j.str()
		return ok
	case '{', '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		j.i++
		if j.eat(close) {
			return true
		}
		for {
			if c == '{' {
				if _, ok := j.str(); !ok || !j.eat(':') {
					return false
				}
			}
			if !j.skip(depth + 1) {
				return false
			}
			if j.eat(',') {
				continue
			}
			return j.eat(close)
		}
	}
	// A number, true, false or null: a run of these characters.
	start := j.i
	for j.i < len(j.s) && isScalarByte(j.s[j.i]) {
		j.i++
	}
	return j.i > start
}

func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.' || c == 'e' || c == 'E' ||
		c >= 'a' && c <= 'z' // true, false, null
}

type jsonFound int

const (
	jsonAbsent jsonFound = iota
	jsonString
	jsonBad // not an object, or the key's value is not a string
)

// jsonStringField finds key in the JSON object text (its first occurrence) and
// decodes its value, which must be a string.
func jsonStringField(text, key string) (string, jsonFound) {
	j := &jsonReader{s: text}
	if !j.eat('{') {
		return "", jsonBad
	}
	if j.eat('}') {
		return "", jsonAbsent
	}
	for {
		name, ok := j.str()
		if !ok || !j.eat(':') {
			return "", jsonBad
		}
		if name == key {
			if v, ok := j.str(); ok {
				return v, jsonString
			}
			return "", jsonBad
		}
		if !j.skip(1) {
			return "", jsonBad
		}
		if j.eat('}') {
			return "", jsonAbsent
		}
		if !j.eat(',') {
			return "", jsonBad
		}
	}
}

// jsonQuote is s as a JSON string: `"`, `\` and control characters escaped,
// everything else (UTF-8 included) as it is.
func jsonQuote(s string) string {
	out := make([]byte, 0, len(s)+2)
	out = append(out, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			out = append(out, '\\', c)
		case c < 0x20:
			out = append(out, `\u00`...)
			out = append(out, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xF])
		default:
			out = append(out, c)
		}
	}
	return string(append(out, '"'))
}
