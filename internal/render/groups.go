package render

import (
	"bufio"
	"fmt"
	"io"

	"github.com/socktrace/socktrace/snapshot"
)

// GroupsHeader prints the title and columns of netstat -g's table. netstat
// built with IPv6, as every distribution's is, titles it IPv6/IPv4, with
// -4 and -6 too.
func GroupsHeader(w io.Writer) error {
	_, err := io.WriteString(w, "IPv6/IPv4 Group Memberships\n"+
		"Interface       RefCnt Group\n"+
		"--------------- ------ ---------------------\n")
	if err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// Groups prints multicast group memberships as netstat -g does, the group
// named through names, or numeric when names is nil (-n). netstat asks
// for a group's host name, never its network's, and keeps 127 bytes of it.
func Groups(w io.Writer, rows []snapshot.Membership, names RouteNamer) error {
	bw := bufio.NewWriter(w)
	for _, m := range rows {
		group := m.Group.String()
		if names != nil {
			group = cut(Safe(orNumeric(names.Host(m.Group), group)), 127)
		}
		fmt.Fprintf(bw, "%-15s %-6d %s\n", Safe(m.Iface), m.Users, group)
	}
	return flushTable(bw)
}

// GroupJSON is one membership as printed by --json.
type GroupJSON struct {
	Family string   `json:"family"`
	Iface  JSONText `json:"iface"`
	RefCnt int      `json:"refcnt"`
	Group  string   `json:"group"`
}

// GroupsJSON prints one object per membership, the group numeric.
func GroupsJSON(w io.Writer, rows []snapshot.Membership) error {
	enc := newJSONEncoder(w)
	for _, m := range rows {
		family := "inet"
		if m.Group.Is6() {
			family = "inet6"
		}
		if err := enc.Encode(GroupJSON{family, JSONText(m.Iface), m.Users, m.Group.String()}); err != nil {
			return fmt.Errorf("write membership: %w", err)
		}
	}
	return nil
}
