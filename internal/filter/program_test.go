package filter

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/snapshot"
)

// run is the kernel's run_filter (bpf/emit.h) in Go: the tests on an
// event's socket, forward jumps from Start until Pass or Drop.
func (p Program) run(s *Socket) (bool, error) {
	pc := p.Start
	if s.PID == 0 {
		pc = p.StartOwnerless
	}
	for steps := 0; pc < MaxOps; steps++ {
		if int(pc) >= len(p.Ops) || steps > len(p.Ops) {
			return false, fmt.Errorf("jump to %d of %d ops", pc, len(p.Ops))
		}
		op := p.Ops[pc]
		next := op.No
		if op.test(s) {
			next = op.Yes
		}
		if next <= pc {
			return false, fmt.Errorf("op %d jumps back to %d", pc, next)
		}
		pc = next
	}
	if pc != Pass && pc != Drop {
		return false, fmt.Errorf("ends at %d", pc)
	}
	return pc == Pass, nil
}

func (op Op) test(s *Socket) bool {
	switch op.Test {
	case TestSrc, TestDst:
		ap := s.Local
		if op.Test == TestDst {
			ap = s.Remote
		}
		if op.Port != -1 && op.Port != int32(ap.Port()) {
			return false
		}
		data := rawAddr(ap.Addr(), s.Family)
		if op.Family != 0 && int(op.Family) != s.Family {
			mapped := s.Family == unix.AF_INET6 && op.Family == unix.AF_INET && ap.Addr().Is4In6()
			return mapped && bitsMatch(data[12:], op.Addr[:4], int(op.Bits))
		}
		return bitsMatch(data[:], op.Addr[:], int(op.Bits))
	case TestSportGE:
		return int32(s.Local.Port()) >= op.Port
	case TestSportLE:
		return int32(s.Local.Port()) <= op.Port
	case TestDportGE:
		return int32(s.Remote.Port()) >= op.Port
	case TestDportLE:
		return int32(s.Remote.Port()) <= op.Port
	case TestAutobound:
		return !s.PortLocked
	case TestPID:
		return s.PID == op.Value
	case TestComm:
		return s.Comm == snapshot.Comm(op.Addr)
	case TestNetns:
		return s.Netns == op.Value
	}
	return true
}

func TestProgramCode(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"", "pass"},
		{"sport = :22 or dport = :22", "0:src:22 y=pass n=1; 1:dst:22 y=pass n=drop"},
		{"sport = :22 and dport = :22", "0:src:22 y=1 n=drop; 1:dst:22 y=pass n=drop"},
		{"not sport = :22", "0:src:22 y=drop n=pass"},
		{"sport > :1024", "0:sport<=1024 y=drop n=pass"},
		// Not the kernel's: let through, in and under a "not".
		{"lifetime > 1s", "pass"},
		{"not lifetime > 1s", "pass"},
		{"sport = :22 and not error = ETIMEDOUT", "0:src:22 y=pass n=drop"},
		{"sport = :22 or uid = 0", "pass"},
		// pid: tested when the kernel knows the owner, else let through.
		{"pid = 42 and dport = :80", "0:pid=42 y=1 n=drop; 1:dst:80 y=pass n=drop; ownerless 2:dst:80 y=pass n=drop"},
		{"pid > 42", "pass"},
		// A unix path is no Internet socket's.
		{"src unix:/run/*", "drop"},
		{"sport = :22 and not sport = :22", "0:src:22 y=1 n=drop; 1:src:22 y=drop n=pass"},
		{"sport < :70000", "0:sport>=4464 y=drop n=pass"}, // cut to 16 bits, as the kernel does
	} {
		f, err := Parse(strings.Fields(tc.expr), testConfig())
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := f.Program().String(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.expr, got, tc.want)
		}
	}
}

// An expression too long for the kernel is let through whole.
func TestProgramTooLong(t *testing.T) {
	long := "sport = :1" + strings.Repeat(" or sport = :1", MaxOps)
	f, err := Parse(strings.Fields(long), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Program().String(); got != "pass" {
		t.Errorf("got %s", got)
	}
	// Owner tests go first, and the rest fits.
	owners := "sport = :1" + strings.Repeat(" or sport = :1", MaxOps/2) + " pid = 1"
	if f, _ = Parse(strings.Fields(owners), testConfig()); len(f.Program().Ops) != MaxOps/2+1 {
		t.Errorf("%s: %s", owners, f.Program())
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		known Facts
		want  string
	}{
		{"sport = :22 and pid = 5", FactTuple, "sport = 22"},
		{"sport = :22 or pid = 5", FactTuple, "true"},
		{"not pid = 5", FactTuple, "true"},
		{"not ( sport = :22 and pid = 5 )", FactTuple, "true"},
		{"not ( sport = :22 or pid = 5 )", FactTuple, "!sport = 22"},
		{"sport = :22 and pid = 5", FactTuple | FactOwner, "(sport = 22 & pid = 5)"},
	} {
		f, err := Parse(strings.Fields(tc.expr), testConfig())
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Within(tc.known).String(); got != tc.want {
			t.Errorf("%s within %b: %s, want %s", tc.expr, tc.known, got, tc.want)
		}
	}
	f, _ := Parse([]string{"state", "listening", "sport", "=", ":22"}, testConfig())
	if f.Within(FactTuple).States != 0 || f.Within(FactTuple|FactState).States == 0 {
		t.Error("Within keeps the state words only with FactState")
	}
}

// String writes a program for tests: each op as index:test y=yes n=no.
func (p Program) String() string {
	target := func(t uint8) string {
		switch t {
		case Pass:
			return "pass"
		case Drop:
			return "drop"
		}
		return fmt.Sprint(t)
	}
	if len(p.Ops) == 0 {
		return target(p.Start)
	}
	var parts []string
	for i, op := range p.Ops {
		var what string
		switch op.Test {
		case TestSrc, TestDst:
			what = map[Test]string{TestSrc: "src", TestDst: "dst"}[op.Test]
			if op.Bits > 0 {
				what += fmt.Sprintf(" %d/%d", op.Family, op.Bits)
			}
			what += fmt.Sprintf(":%d", op.Port)
		case TestSportGE, TestSportLE, TestDportGE, TestDportLE:
			what = map[Test]string{TestSportGE: "sport>=", TestSportLE: "sport<=", TestDportGE: "dport>=", TestDportLE: "dport<="}[op.Test]
			what += fmt.Sprint(op.Port)
		case TestPID:
			what = fmt.Sprintf("pid=%d", op.Value)
		default:
			what = fmt.Sprint(op.Test)
		}
		prefix := ""
		if uint8(i) == p.StartOwnerless && p.StartOwnerless != p.Start {
			prefix = "ownerless "
		}
		parts = append(parts, fmt.Sprintf("%s%d:%s y=%s n=%s", prefix, i, what, target(op.Yes), target(op.No)))
	}
	return strings.Join(parts, "; ")
}

// Exact and ExactOwnerless: the conditions the kernel tests as ss reads
// them (ports; pid, comm and netns when it knows the owner) decide in the
// kernel; addresses, autobound, ports past 16 bits and what the kernel
// cannot test at all leave userspace to decide.
func TestProgramExact(t *testing.T) {
	long := "sport = :1" + strings.Repeat(" or sport = :1", MaxOps)
	longOwners := "sport = :1" + strings.Repeat(" or sport = :1", MaxOps/2) + " pid = 1"
	for _, tc := range []struct {
		expr                  string
		exact, exactOwnerless bool
	}{
		{"", true, true},
		{"sport = :22 or dport = :22", true, true},
		{"not dport = :9 and sport >= :1024 and sport <= :65535", true, true},
		{"state established dport = :80", true, true},
		{"src *:8080 or dst inet6:*", true, true},
		{"src unix:/run/*", true, true},
		{"pid = 42 and dport = :80", true, false},
		{"comm = nginx or netns = 4026531840", true, false},
		{"netns = 4026531840", true, true},
		{"dst 127.0.0.1", false, false},
		{"not dst twohomed", false, false},
		{"autobound", false, false},
		{"sport >= :70000", false, false},
		{"sport < :-1", false, false},
		{"pid > 42", false, false},
		{"dport = :80 and uid = 0", false, false},
		{"dport = :80 and not error = ECONNREFUSED", false, false},
		{"lifetime > 1s", false, false},
		{"container = web", false, false},
		{long, false, false},
		{longOwners, false, false}, // compiled without its owner test
	} {
		f, err := Parse(strings.Fields(tc.expr), testConfig())
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		p := f.Program()
		if p.Exact != tc.exact || p.ExactOwnerless != tc.exactOwnerless {
			t.Errorf("%.40s: exact %v, ownerless %v; want %v, %v", tc.expr, p.Exact, p.ExactOwnerless, tc.exact, tc.exactOwnerless)
		}
	}
	// Built from flags: --port, --pid, --comm.
	f := PortEither(9511).And(OwnerPID(7)).And(OwnerComm("churn"))
	if p := f.Program(); !p.Exact || p.ExactOwnerless {
		t.Errorf("--port --pid --comm: exact %v, ownerless %v", p.Exact, p.ExactOwnerless)
	}
	if p := OwnerPID(0).Program(); p.Exact {
		t.Error("pid = 0 is exact: ss reads pid 0 as no owner, the kernel as a pid")
	}
}

// An exact program's run is Match on every socket; an inexact one's is
// not, on some socket here (so that a program wrongly called exact would
// show): the kernel lets through what ss's reading of autobound, host
// names, addresses of the other family, ports past 16 bits, or conditions
// the kernel cannot test or has no owner for, take out.
func TestProgramExactAgrees(t *testing.T) {
	var socks []*Socket // each with no owner, then with one
	for _, s := range []*Socket{listen4, listenAny, client4, server4, bound4, client6, mapped, timewait,
		sock("10.9.9.9:40001", "10.0.0.2:80"), sock("[fd00::9]:40000", "[7f00:1::1]:80")} {
		owned := *s
		owned.PID, owned.Comm, owned.Netns = 7, snapshot.CommOf("x"), 4026531840
		socks = append(socks, s, &owned)
	}
	for _, expr := range []string{
		"", "sport = :8080 or dport = :8443", "not sport >= :40000", "netns = 4026531840", "src inet:*",
		"pid = 7", "comm = x and sport = :40100",
		"autobound", "not dst 127.0.0.1", "not dst twohomed", "sport >= :70000", "uid = 0",
	} {
		f, err := Parse(strings.Fields(expr), testConfig())
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		p := f.Program()
		var differs [2]bool // for a socket with no owner, with one
		for _, s := range socks {
			if f.Family != 0 && s.Family != f.Family {
				continue // tested apart
			}
			run, err := p.run(s)
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			if run != f.Match(s) {
				differs[min(s.PID, 1)] = true
			}
		}
		for owned, exact := range []bool{p.ExactOwnerless, p.Exact} {
			if exact == differs[owned] {
				t.Errorf("%s, owner known %v: exact %v, but a run and Match differ: %v", expr, owned == 1, exact, differs[owned])
			}
		}
	}
}
