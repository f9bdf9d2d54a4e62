package conntrack

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	ctnetlink "github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// What the kernel answers is turned into the two errors the command line
// words for the user, however deeply the netlink libraries wrap it.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		errno unix.Errno
		want  error
	}{
		{unix.EPERM, ErrPrivileges},
		{unix.EACCES, ErrPrivileges},
		{unix.EINVAL, ErrNoConntrack},
		{unix.EPROTONOSUPPORT, ErrNoConntrack},
	} {
		err := classify(fmt.Errorf("netfilter query: %w", &netlink.OpError{Op: "receive", Err: tc.errno}))
		if !errors.Is(err, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.errno, err, tc.want)
		}
	}
	if err := classify(unix.ENOMEM); errors.Is(err, ErrPrivileges) || errors.Is(err, ErrNoConntrack) || !errors.Is(err, unix.ENOMEM) {
		t.Errorf("ENOMEM: got %v", err)
	}
}

func TestFromNetlink(t *testing.T) {
	c := ctnetlink.NewFlow(unix.IPPROTO_TCP, ctnetlink.StatusSrcNAT|ctnetlink.StatusAssured,
		netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.2"), 40000, 80, 120, 7)
	c.TupleReply.IP.DestinationAddress = netip.MustParseAddr("198.51.100.1")
	c.TupleReply.Proto.DestinationPort = 41000
	c.ProtoInfo.TCP = &ctnetlink.ProtoInfoTCP{State: 7}
	c.ID = 99
	f := fromNetlink(&c)
	if f.ID != 99 || f.Proto != unix.IPPROTO_TCP || f.Mark != 7 || f.Timeout != 120*time.Second {
		t.Errorf("flow %+v", f)
	}
	if !f.SNAT() || f.DNAT() || !f.NAT() || !f.Assured() || f.SeenReply() || f.State() != "TIME_WAIT" {
		t.Errorf("status %#x state %q", f.Status, f.State())
	}
	if a, p, ok := f.TranslatedSource(); !ok || a.String() != "198.51.100.1" || p != 41000 {
		t.Errorf("translated source %v:%d %v", a, p, ok)
	}
	if f.Orig.Src.String() != "192.0.2.2" || f.Orig.SrcPort != 40000 || f.Orig.DstPort != 80 {
		t.Errorf("original tuple %+v", f.Orig)
	}
}
