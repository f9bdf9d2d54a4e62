package filter

// fnmatch is fnmatch(3) with FNM_CASEFOLD and no other flag, as ss matches
// unix socket names: "*" and "?" match any byte, a slash and a leading dot
// included; "[...]" is a set ("[!...]" its complement, a-z a range); a
// backslash takes the next byte as it is. It runs in time proportional to
// the product of the lengths: a star only ever moves forward.
func fnmatch(pattern, name string) bool {
	p, n := 0, 0
	starP, starN := -1, 0
	for n < len(name) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starN = p, n
				p++
				continue
			case '?':
				p++
				n++
				continue
			case '[':
				if ok, next, valid := matchSet(pattern, p, name[n]); valid {
					if ok {
						p, n = next, n+1
						continue
					}
				} else if fold(name[n]) == '[' {
					p, n = p+1, n+1
					continue
				}
			default:
				if c == '\\' && p+1 < len(pattern) {
					c = pattern[p+1]
					if fold(c) == fold(name[n]) {
						p, n = p+2, n+1
						continue
					}
				} else if fold(c) == fold(name[n]) {
					p, n = p+1, n+1
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starN++
		p, n = starP+1, starN
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchSet tests c against the set at pattern[p] ("["). valid is false
// when the set has no closing "]": the "[" is then an ordinary byte.
func matchSet(pattern string, p int, c byte) (ok bool, next int, valid bool) {
	i := p + 1
	negate := i < len(pattern) && (pattern[i] == '!' || pattern[i] == '^')
	if negate {
		i++
	}
	c = fold(c)
	first := true
	for i < len(pattern) {
		if pattern[i] == ']' && !first {
			return ok != negate, i + 1, true
		}
		first = false
		lo := pattern[i]
		if lo == '\\' && i+1 < len(pattern) {
			i++
			lo = pattern[i]
		}
		hi := lo
		if i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']' {
			hi = pattern[i+2]
			if hi == '\\' && i+3 < len(pattern) {
				i++
				hi = pattern[i+2]
			}
			i += 2
		}
		if fold(lo) <= c && c <= fold(hi) || lo <= c && c <= hi {
			ok = true
		}
		i++
	}
	return false, 0, false
}

func fold(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
