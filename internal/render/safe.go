// Package render turns socktrace's rows and events into text: netstat's
// tables, the event log, and NDJSON.
package render

import (
	"strconv"
	"unicode"
	"unicode/utf16"
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

// AppendJSONString appends s as a JSON string. What Safe escapes is escaped
// here as \uXXXX (invalid UTF-8 as U+FFFD), so the output is safe on a
// terminal too. It is the one way socktrace writes a JSON string that
// holds anything from outside; encoding/json writes U+202E and the C1
// controls raw, so such fields are of type JSONText.
func AppendJSONString(b []byte, s string) []byte {
	if plainASCII(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	b = append(b, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b = append(b, `\ufffd`...)
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case unprintable(r):
			b = appendJSONEscape(b, r)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += max(size, 1)
	}
	return append(b, '"')
}

// appendJSONEscape appends r as \uXXXX, or as a UTF-16 surrogate pair
// beyond the Basic Multilingual Plane, as JSON spells those.
func appendJSONEscape(b []byte, r rune) []byte {
	if r > 0xffff {
		hi, lo := utf16.EncodeRune(r)
		return appendJSONEscape(appendJSONEscape(b, hi), lo)
	}
	b = append(b, '\\', 'u')
	return append(b, hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// plainASCII reports whether s is printable ASCII without a quote or a
// backslash: nothing in it needs escaping, as most process names.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// JSONText is a string from outside socktrace, such as a process name, a
// socket path, a user or an interface name, in a struct encoding/json
// writes: it is written by AppendJSONString.
type JSONText string

// MarshalJSON implements json.Marshaler.
func (s JSONText) MarshalJSON() ([]byte, error) {
	return AppendJSONString(nil, string(s)), nil
}
