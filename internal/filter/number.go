package filter

import "math"

// The numbers in ss's filters go through C's strtol and strtoul with base 0:
// leading white space, a sign, then 0x for hex, 0 for octal, else decimal.
// These parse the same way, so "0x1bb" is port 443 here as there.

// cNumber parses the longest number at the start of s as strtoul does and
// returns it, what follows it, and whether any digit was read. A minus
// sign negates in uint64, as strtoul does; callers reject what is too big.
func cNumber(s string) (n uint64, rest string, ok bool, overflow bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	switch {
	case i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && digitValue(s[i+2]) < 16:
		base, i = 16, i+2
	case i < len(s) && s[i] == '0':
		base = 8
	}
	start := i
	for i < len(s) && digitValue(s[i]) < base {
		d := digitValue(s[i])
		if n > (math.MaxUint64-d)/base {
			overflow = true
		}
		n = n*base + d
		i++
	}
	if i == start {
		return 0, s, false, false
	}
	if neg {
		n = -n
	}
	return n, s[i:], true, overflow
}

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func digitValue(c byte) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case 'a' <= c && c <= 'z':
		return uint64(c-'a') + 10
	case 'A' <= c && c <= 'Z':
		return uint64(c-'A') + 10
	}
	return 99
}

// cInt is iproute2's get_integer: all of s one number, in C's int range.
func cInt(s string) (int, bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := i < len(s) && s[i] == '-'
	n, rest, ok, overflow := cNumber(s)
	if !ok || rest != "" || overflow {
		return 0, false
	}
	v := int64(n)
	if neg {
		// strtol saturates what strtoul wraps.
		if n != 0 && (n>>63 == 0 || v < math.MinInt32) {
			return 0, false
		}
	} else if n > math.MaxInt32 {
		return 0, false
	}
	return int(v), true
}

// cUint is iproute2's get_unsigned: all of s one number up to 2^32-1. Like
// strtoul, it takes "-0" for 0 and rejects other negatives as too big.
func cUint(s string) (uint32, bool) {
	n, rest, ok, overflow := cNumber(s)
	if !ok || rest != "" || overflow || n > math.MaxUint32 {
		return 0, false
	}
	return uint32(n), true
}
