package snapshot

import (
	"bytes"
	"errors"
	"fmt"
)

// The /proc tables can hold hundreds of thousands of rows, so the parsers
// walk the bytes by hand instead of allocating strings per field.

var (
	errEmpty  = errors.New("missing field")
	errDigit  = errors.New("bad digit")
	errBigNum = errors.New("number out of range")
)

// cutLine splits data at the first newline.
func cutLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i], data[i+1:]
	}
	return data, nil
}

// fields yields the space-separated fields of a line.
type fields struct{ b []byte }

func (f *fields) next() []byte {
	i := 0
	for i < len(f.b) && (f.b[i] == ' ' || f.b[i] == '\t') {
		i++
	}
	j := i
	for j < len(f.b) && f.b[j] != ' ' && f.b[j] != '\t' {
		j++
	}
	tok := f.b[i:j]
	f.b = f.b[j:]
	return tok
}

func parseHex(b []byte, bits uint) (uint64, error) {
	if len(b) == 0 {
		return 0, errEmpty
	}
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("%w in %q", errDigit, b)
		}
		if v>>(bits-4) != 0 {
			return 0, fmt.Errorf("%w: %q", errBigNum, b)
		}
		v = v<<4 | uint64(d)
	}
	return v, nil
}

func parseDec(b []byte, bits uint) (uint64, error) {
	if len(b) == 0 {
		return 0, errEmpty
	}
	limit := uint64(1)<<bits - 1
	if bits == 64 {
		limit = ^uint64(0)
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w in %q", errDigit, b)
		}
		d := uint64(c - '0')
		if v > (limit-d)/10 {
			return 0, fmt.Errorf("%w: %q", errBigNum, b)
		}
		v = v*10 + d
	}
	return v, nil
}

// parseHexPair parses "XXXXXXXX:YYYYYYYY".
func parseHexPair(b []byte) (uint64, uint64, error) {
	i := bytes.IndexByte(b, ':')
	if i < 0 {
		return 0, 0, fmt.Errorf("no colon in %q", b)
	}
	x, err := parseHex(b[:i], 64)
	if err != nil {
		return 0, 0, err
	}
	y, err := parseHex(b[i+1:], 64)
	return x, y, err
}

// parseTable parses a /proc table with one header line, one row per line.
// Bad lines become *ParseError values naming file and line; the good rows
// are returned regardless.
func parseTable[T any](data []byte, file string, parseLine func([]byte) (T, error)) ([]T, error) {
	return parseRows(data, file, 1, parseLine)
}

// parseRows is parseTable for tables with any number of header lines.
func parseRows[T any](data []byte, file string, headers int, parseLine func([]byte) (T, error)) ([]T, error) {
	var rows []T
	var errs []error
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		lineNo++
		if lineNo <= headers || len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		r, err := parseLine(line)
		if err != nil {
			errs = append(errs, &ParseError{File: file, Line: lineNo, Err: err})
			continue
		}
		rows = append(rows, r)
	}
	return rows, errors.Join(errs...)
}

// eachConfigLine calls fn with the fields of every line of a files-database
// (services, protocols), comments removed.
func eachConfigLine(data []byte, fn func(f *fields)) {
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fn(&fields{b: line})
	}
}
