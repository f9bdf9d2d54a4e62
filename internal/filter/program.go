package filter

import (
	"fmt"
	"math"
	"strings"
)

// Test is what one instruction of a kernel program tests on an event.
// The tracer maps each to the kernel side's own code (enum filter_code in
// bpf/socktrace.h), which is the one definition of the wire format.
type Test uint8

const (
	TestSrc     Test = iota + 1 // local address and port: Family, Addr/Bits, Port (-1: any)
	TestDst                     // remote address and port
	TestSportGE                 // local port >= Port
	TestSportLE                 // local port <= Port
	TestDportGE
	TestDportLE
	TestAutobound // bind() did not choose the local port
	TestPID       // the owner's pid is Value
	TestComm      // the owner's name is Addr (15 bytes, NUL-padded)
	TestNetns     // the namespace inode is Value
)

// A program's jump targets past its instructions.
const (
	Pass   = 254 // the event is wanted
	Drop   = 255 // it is not
	MaxOps = 32  // the kernel holds this many instructions
)

// Op is one instruction: a test, and where to go on yes and on no (an
// instruction further on, Pass or Drop). Jumps only go forward, so a
// program ends after at most as many tests as it has.
type Op struct {
	Test    Test
	Yes, No uint8
	Family  uint8 // TestSrc, TestDst: unix.AF_INET, unix.AF_INET6, 0: any
	Bits    uint8 // TestSrc, TestDst: how many leading bits of Addr count
	Port    int32 // TestSrc, TestDst: -1 any; the others: the port
	Value   uint32
	Addr    [16]byte // IPv4 in the first four bytes
}

// Program is an expression compiled for the kernel: what it can test on an
// event (tuple, bind lock, owner, namespace) tested there, the rest let
// through for userspace (see Within). Events whose owner the kernel does
// not know start at StartOwnerless, where owner tests are let through too.
// A start of Pass wants every event, Drop none.
//
// Exact says that a run from Start gives Match's answer for every Internet
// socket (an owner with a pid; the family and the state words are tested
// apart); ExactOwnerless says the same of a run from StartOwnerless, for a
// socket whose owner is not known. Userspace need not test such an event
// again, as long as it changed none of what the program read.
type Program struct {
	Ops                   []Op
	Start, StartOwnerless uint8
	Exact, ExactOwnerless bool
}

// KernelFacts are the facts a kernel program tests.
const KernelFacts = FactTuple | FactBind | FactOwner | FactNetns

// Program compiles the expression (not the state words or the family,
// which the kernel tests apart) for the kernel. An expression too long for
// MaxOps is tested without its owner conditions, or if still too long not
// in the kernel at all: then every event is sent, and userspace decides.
func (f *Filter) Program() Program {
	known := f.root.within(inKernel(KernelFacts), true, true)
	ownerless := f.root.within(inKernel(KernelFacts&^FactOwner), true, true)
	exact, exactOwnerless := f.exactIn(KernelFacts), f.exactIn(KernelFacts&^FactOwner)
	for _, v := range []struct {
		start, ownerless *node
		exact            bool
	}{{known, ownerless, exact}, {ownerless, ownerless, exactOwnerless}} {
		p := Program{Exact: v.exact, ExactOwnerless: exactOwnerless}
		p.Start = p.compile(v.start)
		p.StartOwnerless = p.Start
		if v.ownerless.String() != v.start.String() {
			p.StartOwnerless = p.compile(v.ownerless)
		}
		if len(p.Ops) <= MaxOps {
			return p
		}
	}
	return Program{Start: Pass, StartOwnerless: Pass}
}

// exactIn reports whether a kernel program that knows the facts known
// keeps every condition of the expression, and reads each as ss does.
func (f *Filter) exactIn(known Facts) bool {
	keep, exact := inKernel(known), true
	f.root.walk(func(p pred) { exact = exact && keep(p) && sameReading(p) })
	return exact
}

// sameReading reports whether the kernel's test of p gives ss's answer on
// every Internet socket (Match asks both readings; see hostPred.test).
func sameReading(p pred) bool {
	switch c := p.(type) {
	case *hostPred:
		// The kernel tests the first address, families apart; ss every
		// address, by their bits. A port alone both read alike, and a
		// unix path is no Internet socket's in either.
		return c.cond.unix || len(c.cond.addrs) == 0
	case portCmp:
		// The kernel cuts the port to 16 bits.
		return 0 <= c.port && c.port <= math.MaxUint16
	case numPred:
		// inKernel leaves pid and netns equality. Pid 0 is no owner to ss,
		// and the kernel holds 32 bits.
		return c.n <= math.MaxUint32 && (c.field != fieldPID || c.n != 0)
	case commPred:
		// The kernel compares up to the first NUL of the name.
		return !strings.ContainsRune(string(c), 0)
	}
	// autobound: the kernel asks whether bind() chose the port, ss whether
	// it is in the ephemeral range.
	return false
}

// inKernel keeps the conditions on known facts that the kernel has a test
// for: of the numbers, pid and netns equality.
func inKernel(known Facts) func(pred) bool {
	return func(p pred) bool {
		if p.facts()&known != p.facts() {
			return false
		}
		if c, ok := p.(numPred); ok {
			return c.op == tEq && (c.field == fieldPID || c.field == fieldNetns)
		}
		return true
	}
}

// compile appends n's instructions and returns where they start.
func (p *Program) compile(n *node) uint8 {
	switch {
	case n == nil || n.op == opTrue:
		return Pass
	case n.op == opFalse:
		return Drop
	case len(p.Ops)+size(n) > MaxOps:
		// Too long: grow past MaxOps without targets, for the caller to see.
		p.Ops = append(p.Ops, make([]Op, size(n))...)
		return Drop
	}
	start := uint8(len(p.Ops))
	p.emit(n, Pass, Drop)
	return start
}

// emit appends n's tests, going to yes when n holds and to no when not.
// Short-circuit code: in "a and b" a no goes straight to no, a yes to b.
func (p *Program) emit(n *node, yes, no uint8) {
	switch n.op {
	case opNot:
		p.emit(n.l, no, yes)
	case opAnd:
		next := uint8(len(p.Ops) + size(n.l))
		p.emit(n.l, next, no)
		p.emit(n.r, yes, no)
	case opOr:
		next := uint8(len(p.Ops) + size(n.l))
		p.emit(n.l, yes, next)
		p.emit(n.r, yes, no)
	case opPred:
		op := n.p.(kernelPred).kernelOp()
		op.Yes, op.No = yes, no
		p.Ops = append(p.Ops, op)
	default:
		panic(fmt.Sprintf("filter: constant %s inside a folded expression", n))
	}
}

// size is how many tests n compiles to.
func size(n *node) int {
	switch n.op {
	case opPred:
		return 1
	case opNot:
		return size(n.l)
	case opAnd, opOr:
		return size(n.l) + size(n.r)
	}
	return 0
}

// kernelPred is a condition the kernel can test: it writes its test.
type kernelPred interface {
	kernelOp() Op
}

// kernelOp tests as inet_diag does: the first address only, its family or an
// IPv4-mapped address.
func (h *hostPred) kernelOp() Op {
	o := Op{Test: TestSrc, Port: int32(h.cond.port), Family: uint8(h.cond.family)}
	if h.remote {
		o.Test = TestDst
	}
	if len(h.cond.addrs) > 0 {
		a := h.cond.addrs[0]
		o.Family, o.Bits, o.Addr = uint8(a.family), uint8(a.bits), a.addr
	}
	return o
}

// kernelOp compares with the port cut to 16 bits, as the kernel's bytecode does.
func (c portCmp) kernelOp() Op {
	t := [2][2]Test{{TestSportLE, TestSportGE}, {TestDportLE, TestDportGE}}
	r, g := 0, 0
	if c.remote {
		r = 1
	}
	if c.ge {
		g = 1
	}
	return Op{Test: t[r][g], Port: int32(uint16(c.port))}
}

func (autobound) kernelOp() Op { return Op{Test: TestAutobound} }

func (c commPred) kernelOp() Op {
	o := Op{Test: TestComm}
	copy(o.Addr[:15], c)
	return o
}

// kernelOp is only reached for pid and netns equality (see inKernel; parse
// makes != a "not" of =).
func (c numPred) kernelOp() Op {
	if c.field == fieldNetns {
		return Op{Test: TestNetns, Value: uint32(c.n)}
	}
	return Op{Test: TestPID, Value: uint32(c.n)}
}
