// Package filter is ss's filter language: "state established '( dport =
// :443 or sport = :443 )'", read and evaluated the way iproute2's ss reads
// and evaluates it, plus conditions only a tracer can decide (pid, comm,
// uid, netns, error, lifetime).
//
// The grammar is ss's (misc/ssfilter.y): "and" and "or" bind equally and
// group from the left, so "a or b and c" is "(a or b) and c"; "not" takes
// the one condition or parenthesis after it; two conditions side by side
// are joined by "and". Words are split on blanks, and each word is what it
// is wherever it stands ("and" is never a host name).
package filter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/snapshot"
)

// Config is what reading a filter needs from the command line and the
// system. The zero Config reads numeric ports only and resolves host names
// with the system resolver.
type Config struct {
	// Family is the family the command line named (-4, -6, -x; the last
	// one given), ss's preferred family: conditions without a family
	// prefix are read in it, and restrict the listing to it. 0: none.
	Family int
	// Hosts returns a host name's addresses in family (AF_INET or
	// AF_INET6), as gethostbyname2 does; nil: the system's resolver.
	Hosts func(name string, family int) []netip.Addr
	// Service returns the port of a service name, or an error saying why
	// there is none; nil: names are not ports.
	Service func(name string) (int, error)
	// Netns returns the inode of a network namespace named by a name from
	// "ip netns", a path or an inode number; nil: inode numbers only.
	Netns func(string) (uint32, error)
	// Unavailable lists socktrace's conditions this mode cannot decide
	// ("error", "lifetime", ...), each with the reason, which an
	// expression using it gets as its error.
	Unavailable map[string]string
	// Ephemeral is the local port range (ip_local_port_range) that
	// autobound tests ports against, as ss does; zero: ss's fallback
	// when it cannot read it, 1024 to 4999.
	Ephemeral snapshot.PortRange
}

// Filter is a parsed filter: the state words and the expression.
type Filter struct {
	// States is the set the state and exclude words leave; 0 when there
	// were none, or they left none, which ss reads the same way.
	States StateSet
	// Family is the only family the listing shows, when a condition named
	// one (inet:, inet6:, unix:, or Config.Family); 0: any.
	Family int

	root      *node
	ephemeral snapshot.PortRange
}

// maxDepth bounds nesting: parentheses and "not"s deeper than this are
// refused, so that neither parsing nor evaluating can run out of stack.
const maxDepth = 1000

type parser struct {
	cfg    Config
	expr   string // the arguments joined by single spaces, for errors
	toks   []token
	i      int
	depth  int
	states StateSet
	offset int // where the expression starts in expr
	pref   int // the family conditions are read in; a condition naming one changes it, as in ss
	family int
}

// Parse reads a filter from the arguments after the options:
// [state STATE | exclude STATE]... [EXPRESSION].
func Parse(args []string, cfg Config) (*Filter, error) {
	p := &parser{cfg: cfg, expr: strings.Join(args, " "), pref: cfg.Family}
	rest, err := p.parseStates(args)
	if err != nil {
		return nil, err
	}
	p.toks = lex(rest, p.offset)
	f := &Filter{ephemeral: cfg.Ephemeral}
	if f.ephemeral == (snapshot.PortRange{}) {
		f.ephemeral = snapshot.PortRange{Low: 1024, High: 4999}
	}
	if p.peek().kind != tEnd {
		if f.root, err = p.exprList(); err != nil {
			return nil, err
		}
	}
	f.States, f.Family = p.states, p.family
	return f, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEnd {
		p.i++
	}
	return t
}

// exprList reads conditions joined by and, or, or nothing (and), from
// the left, up to the end or a closing parenthesis.
func (p *parser) exprList() (*node, error) {
	left, err := p.expression()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		op := opAnd
		switch t.kind {
		case tEnd:
			return left, nil
		case tClose:
			if p.depth == 0 {
				return nil, p.errorf(t, "%s has no \"(\" before it", t.describe())
			}
			return left, nil
		case tOr:
			op = opOr
			p.next()
		case tAnd:
			p.next()
		}
		right, err := p.expression()
		if err != nil {
			return nil, err
		}
		left = &node{op: op, l: left, r: right}
	}
}

// expression reads one condition, a "not" and what it negates, or a
// parenthesis.
func (p *parser) expression() (*node, error) {
	t := p.next()
	switch t.kind {
	case tOpen, tNot:
		if p.depth++; p.depth > maxDepth {
			return nil, p.errorf(t, "nested more than %d deep", maxDepth)
		}
		defer func() { p.depth-- }()
		if t.kind == tNot {
			n, err := p.expression()
			if err != nil {
				return nil, err
			}
			return &node{op: opNot, l: n}, nil
		}
		n, err := p.exprList()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tClose {
			return nil, p.errorf(t, "%s is not closed: want \")\" before %s", t.describe(), c.describe())
		}
		return n, nil
	case tDst, tSrc:
		if p.peek().kind == tEq {
			p.next()
		}
		v, err := p.word(t)
		if err != nil {
			return nil, err
		}
		h, err := p.hostCond(v, false)
		if err != nil {
			return nil, err
		}
		return leaf(&hostPred{remote: t.kind == tDst, cond: h}), nil
	case tDport, tSport:
		return p.portCond(t)
	case tAutobound:
		return leaf(autobound{}), nil
	case tDev, tFwmark, tCgroup:
		return nil, p.errorf(t, "socktrace does not filter by %s (an ss condition it has no data for)", t.text)
	case tPid, tComm, tUID, tNetns, tContainer, tError, tLifetime:
		return p.ownCond(t)
	case tEnd:
		return nil, p.errorf(t, "the expression ends where a condition must follow; %s", conditions)
	}
	return nil, p.errorf(t, "%s is not a condition; %s", t.describe(), conditions)
}

const conditions = "want src, dst, sport, dport, autobound, pid, comm, uid, netns, container, error, lifetime, \"(\" or \"not\""

// word takes the value after cond's operator: any word but a keyword.
func (p *parser) word(cond token) (token, error) {
	t := p.next()
	if t.kind != tWord {
		return t, p.errorf(t, "%s needs a value here, not %s", cond.text, t.describe())
	}
	return t, nil
}

// opValue reads what follows cond: an operator, = when there is none,
// and the value.
func (p *parser) opValue(cond token) (kind, token, error) {
	op := p.peek().kind
	switch op {
	case tEq, tNeq, tGt, tLt, tGeq, tLeq:
		p.next()
	default:
		op = tEq
	}
	v, err := p.word(cond)
	return op, v, err
}

// portCond reads sport/dport OP [FAMILY:]:PORT. As in ss, > is "not <=",
// < is "not >=" and != is "not =".
func (p *parser) portCond(t token) (*node, error) {
	remote := t.kind == tDport
	op, v, err := p.opValue(t)
	if err != nil {
		return nil, err
	}
	h, err := p.hostCond(v, true)
	if err != nil {
		return nil, err
	}
	switch op {
	case tEq:
		return leaf(&hostPred{remote: remote, port: true, cond: h}), nil
	case tNeq:
		return not(leaf(&hostPred{remote: remote, port: true, cond: h})), nil
	case tGeq:
		return leaf(portCmp{remote: remote, ge: true, port: h.port}), nil
	case tLeq:
		return leaf(portCmp{remote: remote, port: h.port}), nil
	case tGt:
		return not(leaf(portCmp{remote: remote, port: h.port})), nil
	}
	return not(leaf(portCmp{remote: remote, ge: true, port: h.port})), nil
}

// ownCond reads one of socktrace's conditions: NAME [OP] VALUE.
func (p *parser) ownCond(t token) (*node, error) {
	if why, ok := p.cfg.Unavailable[t.text]; ok {
		return nil, p.errorf(t, "%s: %s", t.text, why)
	}
	op, v, err := p.opValue(t)
	if err != nil {
		return nil, err
	}
	ordered := t.kind == tPid || t.kind == tUID || t.kind == tLifetime
	if !ordered && op != tEq && op != tNeq {
		return nil, p.errorf(t, "%s takes = or != only", t.text)
	}
	var pr pred
	switch t.kind {
	case tPid, tUID:
		n, err := strconv.ParseUint(v.text, 10, 32)
		if err != nil || n == 0 && t.kind == tPid {
			return nil, p.errorf(v, "%s %s: want a whole number", t.text, quote(v.text))
		}
		pr = numPred{field: fieldOf(t.kind), op: op, n: n}
	case tComm:
		pr = commPred(v.text)
	case tContainer:
		pr = containerPred(v.text)
	case tNetns:
		ino, err := p.netns(v.text)
		if err != nil {
			return nil, p.errorf(v, "netns %s: %v", quote(v.text), err)
		}
		pr = numPred{field: fieldNetns, op: tEq, n: uint64(ino)}
	case tError:
		name, ok := errnoName(v.text)
		if !ok {
			return nil, p.errorf(v, "error %s: want an errno name such as ECONNREFUSED or ETIMEDOUT, or aborted", quote(v.text))
		}
		pr = errPred(name)
	case tLifetime:
		d, err := time.ParseDuration(v.text)
		if err != nil || d < 0 {
			return nil, p.errorf(v, "lifetime %s: want a duration such as 10ms, 1.5s or 2m", quote(v.text))
		}
		pr = numPred{field: fieldLifetime, op: op, n: uint64(d)}
	}
	if op == tNeq {
		if np, ok := pr.(numPred); ok {
			np.op = tEq
			pr = np
		}
		return not(leaf(pr)), nil
	}
	return leaf(pr), nil
}

func (p *parser) netns(s string) (uint32, error) {
	if p.cfg.Netns != nil {
		return p.cfg.Netns(s)
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("want a namespace inode number")
	}
	return uint32(n), nil
}

// errnoName finds s among the kernel's errno names, in any case, or
// "aborted": how -c marks a connect its process gave up on.
func errnoName(s string) (string, bool) {
	up := strings.ToUpper(s)
	if up == "ABORTED" {
		return "aborted", true
	}
	for e := unix.Errno(1); e < 256; e++ {
		if unix.ErrnoName(e) == up {
			return up, true
		}
	}
	return "", false
}
