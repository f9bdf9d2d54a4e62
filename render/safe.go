// Package render turns socktrace's rows and events into text: netstat's
// tables, the event log, and NDJSON.
package render

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Safe returns s with every byte a terminal could act on or hide escaped
// as \xNN: control characters (C0, DEL, C1), invalid UTF-8, and the other
// characters that print nothing, such as the bidirectional overrides that
// make a terminal show text reversed and zero-width spaces. Process names
// and paths are chosen by whoever started the process, so they are
// untrusted. A backslash is escaped too, so the output is unambiguous.
func Safe(s string) string {
	if isClean(s) {
		return s
	}
	return string(AppendSafe(make([]byte, 0, len(s)+8), s))
}

// AppendSafe appends the escaped form of s (see Safe) to b.
func AppendSafe(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 || needsEscape(r) {
			for j := 0; j < size || j == 0; j++ {
				b = appendHexByte(b, s[i+j])
			}
			i += max(size, 1)
			continue
		}
		b = append(b, s[i:i+size]...)
		i += size
	}
	return b
}

func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			if c >= 0x80 {
				return cleanUTF8(s[i:])
			}
			return false
		}
	}
	return true
}

func cleanUTF8(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || needsEscape(r) {
			return false
		}
	}
	return true
}

func needsEscape(r rune) bool { return r == '\\' || unprintable(r) }

// unprintable: control characters, and beyond ASCII what Unicode does not
// call graphic (format characters such as U+202E, separators other than
// the space, private use and unassigned code points).
func unprintable(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && !unicode.IsPrint(r))
}

func appendHexByte(b []byte, c byte) []byte {
	if c == '\\' {
		return append(b, '\\', '\\')
	}
	b = append(b, '\\', 'x')
	if c < 0x10 {
		b = append(b, '0')
	}
	return strconv.AppendUint(b, uint64(c), 16)
}
