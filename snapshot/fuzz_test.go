package snapshot

import (
	"os"
	"slices"
	"testing"

	"github.com/socktrace/socktrace/tcpstate"
	"golang.org/x/sys/unix"
)

// The parsers read text the kernel (or a fixture, or a file an admin edited)
// produced; whatever they get, they must return rows or errors, never panic.

func seedFile(f *testing.F, path string) {
	if data, err := os.ReadFile(path); err == nil {
		f.Add(data)
	}
}

func FuzzParseInet(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6", "raw", "raw6"} {
		seedFile(f, "testdata/proc/net/"+name)
	}
	f.Add([]byte("h\n 0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v6 := range []bool{false, true} {
			rows, err := ParseInet(data, "f", TCP, v6, nil)
			for _, s := range rows {
				if s.Local.Addr().Is6() != v6 {
					t.Fatalf("row %+v has the wrong family for v6=%v", s, v6)
				}
			}
			_ = err
		}
	})
}

func FuzzParseUnix(f *testing.F) {
	seedFile(f, "testdata/proc/net/unix")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseUnix(data, "unix")
	})
}

func FuzzParseUsers(f *testing.F) {
	seedFile(f, "testdata/etc/passwd")
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ParseUsers(data)
	})
}

func FuzzParseServices(f *testing.F) {
	services, _ := os.ReadFile("testdata/etc/services")
	protocols, _ := os.ReadFile("testdata/etc/protocols")
	f.Add(services, protocols)
	f.Fuzz(func(t *testing.T, services, protocols []byte) {
		_ = ParseServices(services, protocols)
	})
}

func FuzzFdLink(f *testing.F) {
	f.Add([]byte("socket:[12345]"), []byte("/usr/bin/x\x00-a\x00"))
	f.Add([]byte("pipe:[1]"), []byte(""))
	f.Fuzz(func(t *testing.T, link, cmdline []byte) {
		_, _ = socketInode(link)
		_ = ProgramName(cmdline)
	})
}

func FuzzParseDiag(f *testing.F) {
	f.Add(slices.Concat(
		nlMsg(unix.SOCK_DIAG_BY_FAMILY, 1, diagRow{family: unix.AF_INET6, state: tcpstate.Established,
			local: "[::1]:22", remote: "[::1]:5000", tcpInfo: []byte{1, 0, 2, 3}}.bytes()),
		nlMsg(unix.NLMSG_DONE, 1, make([]byte, 4))))
	f.Add(nlMsg(unix.NLMSG_ERROR, 1, errnoPayload(unix.ENOENT)))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, _, _ := parseDiagBatch(data, 1, TCP, nil)
		for _, s := range rows {
			if s.Local.Addr().Is6() != s.V6 {
				t.Fatalf("row %+v has the wrong family", s)
			}
		}
	})
}

func FuzzParseUnixDiag(f *testing.F) {
	f.Add(slices.Concat(
		nlMsg(unix.SOCK_DIAG_BY_FAMILY, 1, unixDiagMsg(unix.SOCK_STREAM, tcpListen, 10,
			nlAttr(unixDiagName, []byte("\x00l")), nlAttr(unixDiagIcons, u32s(11, 0)))),
		nlMsg(unix.SOCK_DIAG_BY_FAMILY, 1, unixDiagMsg(unix.SOCK_STREAM, tcpEstablished, 11,
			nlAttr(unixDiagPeer, u32s(0)), nlAttr(unixDiagUID, u32s(1000)))),
		nlMsg(unix.NLMSG_DONE, 1, make([]byte, 4))))
	f.Fuzz(func(t *testing.T, data []byte) {
		var dump []unixDiagRow
		_, _ = eachDiagMsg(data, 1, func(msg []byte) error {
			r, err := parseUnixDiagMsg(msg)
			if err == nil {
				dump = append(dump, r)
			}
			return err
		})
		_ = unixRows(dump)
	})
}

func FuzzParseIGMP(f *testing.F) {
	seedFile(f, "testdata/tables/proc/net/igmp")
	seedFile(f, "testdata/tables/proc/net/igmp6")
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte, string) ([]Membership, error){ParseIGMP, ParseIGMP6} {
			rows, _ := parse(data, "igmp")
			for _, m := range rows {
				if m.Iface == "" || !m.Group.IsValid() || m.Users < 0 {
					t.Fatalf("row %+v", m)
				}
			}
		}
	})
}

func FuzzParseRouteCache(f *testing.F) {
	seedFile(f, "testdata/tables/proc/net/rt_cache")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseRouteCache(data, "rt_cache")
	})
}

func FuzzParseSCTP(f *testing.F) {
	seedFile(f, "testdata/tables/proc/net/sctp/eps")
	seedFile(f, "testdata/tables/proc/net/sctp/assocs")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseSCTPEndpoints(data, "eps")
		_, _ = ParseSCTPAssocs(data, "assocs")
	})
}
