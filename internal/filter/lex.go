package filter

import "strings"

// kind is what a token is to the grammar. Like ss, the lexer decides by the
// word alone, wherever it stands: "and" is always the operator, so no host
// or process can be named "and" in an expression.
type kind uint8

const (
	tWord kind = iota // anything else: an address, a port, a name, a number
	tNot
	tAnd
	tOr
	tOpen
	tClose
	tDst
	tSrc
	tDport
	tSport
	tAutobound
	tEq
	tNeq
	tGt
	tLt
	tGeq
	tLeq
	tEnd // after the last token

	// ss conditions socktrace does not evaluate.
	tDev
	tFwmark
	tCgroup

	// socktrace's own conditions.
	tPid
	tComm
	tUID
	tNetns
	tContainer
	tError
	tLifetime
)

var keywords = map[string]kind{
	"!": tNot, "not": tNot,
	"&": tAnd, "&&": tAnd, "and": tAnd,
	"|": tOr, "||": tOr, "or": tOr,
	"(": tOpen, ")": tClose,
	"dst": tDst, "src": tSrc, "dport": tDport, "sport": tSport,
	"autobound": tAutobound,
	"=":         tEq, "==": tEq, "eq": tEq,
	"!=": tNeq, "ne": tNeq, "neq": tNeq,
	">": tGt, "gt": tGt,
	"<": tLt, "lt": tLt,
	">=": tGeq, "ge": tGeq, "geq": tGeq,
	"<=": tLeq, "le": tLeq, "leq": tLeq,
	"dev": tDev, "fwmark": tFwmark, "cgroup": tCgroup,
	"pid": tPid, "comm": tComm, "uid": tUID, "netns": tNetns,
	"container": tContainer, "error": tError, "lifetime": tLifetime,
}

// token is one word of the expression. pos and end are byte offsets into
// the expression as printed (the arguments joined by single spaces), so an
// error can point at the word as the user typed it.
type token struct {
	kind     kind
	text     string // with ss's backslash escapes applied
	pos, end int
}

// lex splits the arguments into tokens the way ss does: each argument on
// spaces and tabs only (a token never spans two arguments, and a newline
// is part of a word), a backslash taking the next byte as it is. A lone
// backslash is a token of its own, the empty word. base is the offset of
// the first argument in the printed expression.
func lex(args []string, base int) []token {
	var toks []token
	for _, arg := range args {
		for i := 0; i < len(arg); {
			if arg[i] == ' ' || arg[i] == '\t' {
				i++
				continue
			}
			start := i
			var b strings.Builder
			for i < len(arg) && arg[i] != ' ' && arg[i] != '\t' {
				if arg[i] == '\\' {
					i++
					if i == len(arg) {
						break
					}
				}
				b.WriteByte(arg[i])
				i++
			}
			text := b.String()
			toks = append(toks, token{kind: keywords[text], text: text, pos: base + start, end: base + i})
		}
		base += len(arg) + 1
	}
	end := max(base-1, 0)
	return append(toks, token{kind: tEnd, pos: end, end: end})
}

// describe names a token in an error message.
func (t token) describe() string {
	if t.kind == tEnd {
		return "the end"
	}
	return quote(t.text)
}
