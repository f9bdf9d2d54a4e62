package filter

import (
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/snapshot"
)

// Filters built from command-line flags, for joining to an expression
// with And: trace's --port, --pid, --comm and --state are shorthands for
// these. They take their values as they are, where an expression would
// read a keyword ("--comm and" is the program named "and").

// PortEither is "( sport = :port or dport = :port )".
func PortEither(port uint16) *Filter {
	cond := func(remote bool) *node {
		return leaf(&hostPred{remote: remote, port: true, cond: &hostCond{port: int(port)}})
	}
	return &Filter{root: &node{op: opOr, l: cond(false), r: cond(true)}}
}

// OwnerPID is "pid = pid".
func OwnerPID(pid uint32) *Filter {
	return &Filter{root: leaf(numPred{field: fieldPID, op: tEq, n: uint64(pid)})}
}

// OwnerComm is "comm = name".
func OwnerComm(name string) *Filter { return &Filter{root: leaf(commPred(name))} }

// InStates is "state S" for each state in s.
func InStates(s StateSet) *Filter { return &Filter{States: s} }

// And is a filter that passes what both pass. A nil filter passes all.
func (f *Filter) And(g *Filter) *Filter {
	switch {
	case f == nil:
		return g
	case g == nil:
		return f
	}
	h := &Filter{States: f.States, Family: f.Family, ephemeral: f.ephemeral}
	if f.ephemeral == (snapshot.PortRange{}) {
		h.ephemeral = g.ephemeral
	}
	switch {
	case f.root == nil:
		h.root = g.root
	case g.root == nil:
		h.root = f.root
	default:
		h.root = &node{op: opAnd, l: f.root, r: g.root}
	}
	if g.States != 0 {
		h.States = g.States
		if f.States != 0 {
			h.States = f.States & g.States
			if h.States == 0 {
				h.root = constant(false) // no state is in both
			}
		}
	}
	if g.Family != 0 {
		if f.Family != 0 && f.Family != g.Family {
			h.root = constant(false)
		}
		h.Family = g.Family
	}
	return h
}

// IsInet reports whether family is an Internet family, the only ones the
// kernel program sees.
func IsInet(family int) bool { return family == unix.AF_INET || family == unix.AF_INET6 }
