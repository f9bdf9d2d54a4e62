package render

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// padCut ends a column of escaped text (AppendSafe's output) that started
// at start, cols display columns wide with the space after it. Escaping
// makes a 15-byte name up to 60 columns wide, and wide runes take two
// columns per rune, so the text is measured as a terminal shows it: padded
// when narrower, or cut at a whole escape or rune when wider, with "+" in
// the last column to say it was cut (as top marks a cut command).
func padCut(b []byte, start, cols int) []byte {
	room := cols - 1
	n := displayWidth(b[start:])
	if n <= room {
		return padFrom(b, n, cols)
	}
	w, i := 0, start
	for i < len(b) {
		size, uw := safeUnit(b[i:])
		if w+uw > room-1 {
			break
		}
		w += uw
		i += size
	}
	b = append(b[:i], '+')
	return padFrom(b, w+1, cols)
}

// displayWidth is how many terminal columns escaped text takes.
func displayWidth(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		size, w := safeUnit(b[i:])
		n += w
		i += size
	}
	return n
}

// safeUnit is the length and display width of the first unit of escaped
// text: an escape ("\xNN" or "\\"), which is ASCII, or one rune.
func safeUnit(b []byte) (size, cols int) {
	if b[0] == '\\' {
		if len(b) >= 4 && b[1] == 'x' {
			return 4, 4
		}
		return min(2, len(b)), min(2, len(b))
	}
	if b[0] < utf8.RuneSelf {
		return 1, 1
	}
	r, size := utf8.DecodeRune(b)
	return size, runeWidth(r)
}

// runeWidth is the columns a printable rune takes: two for East Asian wide
// and fullwidth runes, none for combining marks, which join the rune
// before them.
func runeWidth(r rune) int {
	switch {
	case r < 0x300: // Latin-1 and the blocks before the combining marks
		return 1
	case unicode.In(r, unicode.Mn, unicode.Me):
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}
