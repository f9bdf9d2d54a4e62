package render

import (
	"encoding/json"
	"io"

	"github.com/socktrace/socktrace/snapshot"
)

// SocketJSON is one table row under --json (docs/DESIGN.md's contract, plus the
// family, timer and unix fields). Addresses are always numeric,
// "addr:port" with IPv6 in brackets; pid is 0 and program "" when unknown.
type SocketJSON struct {
	Proto   string   `json:"proto"`
	RecvQ   uint64   `json:"recv_q"`
	SendQ   uint64   `json:"send_q"`
	Local   JSONText `json:"local"`
	Remote  string   `json:"remote"`
	State   string   `json:"state"`
	UID     *uint32  `json:"uid,omitempty"` // nil: unknown (unix rows from /proc)
	User    JSONText `json:"user,omitempty"`
	Inode   uint64   `json:"inode"`
	PID     int      `json:"pid"`
	Program JSONText `json:"program"`
	Comm    JSONText `json:"comm,omitempty"`
	Timer   string   `json:"timer,omitempty"`
	// Where the owner runs (-c rows): a pod, container or systemd unit,
	// and a container's runtime://id.
	Container   JSONText `json:"container,omitempty"`
	ContainerID JSONText `json:"container_id,omitempty"`

	// Live table (-c) rows of connections that are gone.
	Gone       bool   `json:"gone,omitempty"`
	LifetimeNS int64  `json:"lifetime_ns,omitempty"`
	Error      string `json:"error,omitempty"`
	Healed     bool   `json:"healed,omitempty"` // gone without a close event

	// Unix sockets only.
	RefCount uint64   `json:"refcnt,omitempty"`
	Type     string   `json:"type,omitempty"`
	Flags    string   `json:"flags,omitempty"`
	Path     JSONText `json:"path,omitempty"`
}

// InetJSON writes s as one JSON line.
func (n *Netstat) InetJSON(w io.Writer, s *snapshot.Socket) error {
	row := n.socketJSON(s)
	n.owner(&row, s.Inode)
	return writeJSON(w, &row)
}

func (n *Netstat) socketJSON(s *snapshot.Socket) SocketJSON {
	row := SocketJSON{
		Proto:  ProtoLabel(s),
		RecvQ:  s.RecvQ,
		SendQ:  s.SendQ,
		Local:  JSONText(s.Local.String()),
		Remote: s.Remote.String(),
		State:  StateName(s),
		UID:    &s.UID,
		Inode:  s.Inode,
	}
	if n.Names != nil {
		row.User = JSONText(n.Names.User(s.UID))
	}
	if n.Timers {
		row.Timer = string(appendTimer(nil, s))
	}
	return row
}

// UnixJSON writes u as one JSON line.
func (n *Netstat) UnixJSON(w io.Writer, u *snapshot.UnixSocket) error {
	row := SocketJSON{
		Proto:    pick(u.Protocol == 0, "unix", "??"),
		State:    UnixStateName(u),
		Inode:    u.Inode,
		RefCount: u.RefCount,
		Type:     UnixTypeName(u),
		Flags:    UnixFlags(u),
		Path:     JSONText(u.Path),
		Local:    JSONText(u.Path),
	}
	if u.UIDKnown {
		row.UID = &u.UID
	}
	n.owner(&row, u.Inode)
	return writeJSON(w, &row)
}

func (n *Netstat) owner(row *SocketJSON, inode uint64) {
	o, prog := n.ownerOf(inode)
	ownerJSON(row, o, prog)
}

// ownerJSON sets the row's owner fields, unless the owner is unknown (pid
// 0).
func ownerJSON(row *SocketJSON, o snapshot.Owner, program string) {
	if o.PID != 0 {
		row.PID, row.Program, row.Comm = int(o.PID), JSONText(program), JSONText(o.Comm.String())
	}
}

func writeJSON(w io.Writer, v any) error {
	return newJSONEncoder(w).Encode(v)
}

// newJSONEncoder returns an encoder that leaves '<', '>' and '&' as they
// are, as AppendJSONString does: a name is spelled the same in every JSON
// mode.
func newJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}
