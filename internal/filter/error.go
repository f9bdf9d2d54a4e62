package filter

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is a mistake in a filter: where it is and what is wrong. Its
// message is one line; Caret draws the expression with the place marked.
type Error struct {
	Expr     string // the arguments joined by single spaces
	Pos, End int    // byte offsets of the word at fault in Expr
	Msg      string
}

// Error says the column (1-based, counting bytes) and what is wrong.
func (e *Error) Error() string {
	return fmt.Sprintf("filter column %d: %s", e.Pos+1, e.Msg)
}

// Caret returns two lines: the expression, and carets under the word at
// fault. escape makes the expression safe to print (a name in it may hold
// control characters); carets are placed by the escaped text's length in
// runes, so they stay under the word.
func (e *Error) Caret(escape func(string) string) string {
	before := escape(e.Expr[:e.Pos])
	word := escape(e.Expr[e.Pos:e.End])
	after := escape(e.Expr[e.End:])
	marks := max(len([]rune(word)), 1)
	return before + word + after + "\n" +
		strings.Repeat(" ", len([]rune(before))) + strings.Repeat("^", marks)
}

func (p *parser) errorf(t token, format string, args ...any) *Error {
	return &Error{Expr: p.expr, Pos: t.pos, End: t.end, Msg: fmt.Sprintf(format, args...)}
}

// quote writes a word from the command line for an error message. It
// escapes what a terminal would act on, as strconv.Quote does.
func quote(s string) string { return strconv.Quote(s) }
