package filter

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// String writes the expression back with every grouping in parentheses:
// "a or b and c" is "((a | b) & c)". Tests and --debug read it.
func (f *Filter) String() string {
	if f.root == nil {
		return ""
	}
	return f.root.String()
}

func (n *node) String() string {
	if n == nil {
		return "true"
	}
	switch n.op {
	case opAnd:
		return "(" + n.l.String() + " & " + n.r.String() + ")"
	case opOr:
		return "(" + n.l.String() + " | " + n.r.String() + ")"
	case opNot:
		return "!" + n.l.String()
	case opTrue:
		return "true"
	case opFalse:
		return "false"
	}
	return n.p.String()
}

func (h *hostPred) String() string {
	c := h.cond
	if h.port {
		name := "sport"
		if h.remote {
			name = "dport"
		}
		if c.port == -1 {
			return name + " = *"
		}
		return fmt.Sprintf("%s = %d", name, c.port)
	}
	name := "src"
	if h.remote {
		name = "dst"
	}
	if c.unix {
		return name + " unix:" + c.pattern
	}
	var parts []string
	for _, a := range c.addrs {
		parts = append(parts, a.String())
	}
	addr := strings.Join(parts, ",")
	if addr == "" {
		addr = "*"
	}
	if c.port != -1 {
		return fmt.Sprintf("%s %s:%d", name, addr, c.port)
	}
	return name + " " + addr
}

func (p prefix) String() string {
	switch p.family {
	case unix.AF_INET:
		return fmt.Sprintf("%s/%d", netip.AddrFrom4([4]byte(p.addr[:4])), p.bits)
	case unix.AF_INET6:
		return fmt.Sprintf("[%s]/%d", netip.AddrFrom16(p.addr), p.bits)
	}
	return "*"
}

func (c portCmp) String() string {
	name := "sport"
	if c.remote {
		name = "dport"
	}
	if c.ge {
		return fmt.Sprintf("%s >= %d", name, c.port)
	}
	return fmt.Sprintf("%s <= %d", name, c.port)
}

func (autobound) String() string { return "autobound" }

var opText = map[kind]string{tEq: "=", tGt: ">", tLt: "<", tGeq: ">=", tLeq: "<="}

func (c numPred) String() string {
	name := [...]string{fieldPID: "pid", fieldUID: "uid", fieldNetns: "netns", fieldLifetime: "lifetime"}[c.field]
	v := fmt.Sprint(c.n)
	if c.field == fieldLifetime {
		v = time.Duration(c.n).String()
	}
	return name + " " + opText[c.op] + " " + v
}

func (c commPred) String() string { return "comm = " + quote(string(c)) }

func (e errPred) String() string { return "error = " + string(e) }

func (c containerPred) String() string { return "container = " + quote(string(c)) }
