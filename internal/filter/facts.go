package filter

// Facts are what a mode knows about every socket or event it tests.
type Facts uint16

const (
	FactTuple     Facts = 1 << iota // addresses and ports: src, dst, sport, dport
	FactBind                        // whether bind() chose the local port: autobound
	FactOwner                       // pid, comm
	FactContainer                   // container: where the owner runs
	FactUID                         // uid
	FactNetns                       // netns
	FactEnd                         // how and when it ended: error, lifetime
	FactState                       // the state words

	AllFacts = FactTuple | FactBind | FactOwner | FactContainer | FactUID | FactNetns | FactEnd | FactState
)

func (h *hostPred) facts() Facts   { return FactTuple }
func (portCmp) facts() Facts       { return FactTuple }
func (autobound) facts() Facts     { return FactBind }
func (commPred) facts() Facts      { return FactOwner }
func (errPred) facts() Facts       { return FactEnd }
func (containerPred) facts() Facts { return FactContainer }

func (c numPred) facts() Facts {
	switch c.field {
	case fieldPID:
		return FactOwner
	case fieldUID:
		return FactUID
	case fieldNetns:
		return FactNetns
	}
	return FactEnd
}

// Uses reports which facts the filter needs: a mode reads the owners only
// when the filter asks for them.
func (f *Filter) Uses() Facts {
	var u Facts
	if f.States != 0 {
		u |= FactState
	}
	f.root.walk(func(p pred) { u |= p.facts() })
	return u
}

func (n *node) walk(fn func(pred)) {
	if n == nil {
		return
	}
	if n.op == opPred {
		fn(n.p)
		return
	}
	n.l.walk(fn)
	n.r.walk(fn)
}

// Everything reports whether f passes every socket: no state words, no
// family, and an expression that is empty or always true.
func (f *Filter) Everything() bool {
	return f.States == 0 && f.Family == 0 && (f.root == nil || f.root.op == opTrue)
}

// Within returns the loosest filter that decides with the known facts
// alone: each condition on other facts is taken as whatever lets a socket
// through (true, or false under a "not"), so it passes every socket f
// passes. Without FactState the state words go too. A kernel filter is
// one: what it cannot test it lets through, for userspace to decide.
func (f *Filter) Within(known Facts) *Filter {
	g := *f
	if known&FactState == 0 {
		g.States = 0
	}
	g.root = f.root.within(func(p pred) bool { return p.facts()&known == p.facts() }, true, false)
	return &g
}

// within rebuilds n with the conditions keep refuses made constant.
// pos is false under an odd number of "not"s. inetOnly also makes unix
// path conditions false, which no Internet socket passes.
func (n *node) within(keep func(pred) bool, pos, inetOnly bool) *node {
	if n == nil {
		return nil
	}
	switch n.op {
	case opTrue, opFalse:
		return n
	case opPred:
		if h, ok := n.p.(*hostPred); ok && inetOnly && h.cond.unix {
			return constant(false)
		}
		if !keep(n.p) {
			return constant(pos)
		}
		return n
	case opNot:
		l := n.l.within(keep, !pos, inetOnly)
		if l.op == opTrue || l.op == opFalse {
			return constant(l.op == opFalse)
		}
		return not(l)
	}
	l := n.l.within(keep, pos, inetOnly)
	r := n.r.within(keep, pos, inetOnly)
	// An absorbing constant decides; a neutral one leaves the other side.
	absorb, neutral := opFalse, opTrue
	if n.op == opOr {
		absorb, neutral = opTrue, opFalse
	}
	switch {
	case l.op == absorb || r.op == absorb:
		return constant(absorb == opTrue)
	case l.op == neutral:
		return r
	case r.op == neutral:
		return l
	}
	return &node{op: n.op, l: l, r: r}
}

func constant(b bool) *node {
	if b {
		return &node{op: opTrue}
	}
	return &node{op: opFalse}
}
