package filter

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/snapshot"

	"github.com/socktrace/socktrace/tcpstate"
)

// sock builds an Internet socket from "local remote"; the family is the
// local address's (IPv4-mapped addresses are IPv6 sockets).
func sock(local, remote string) *Socket {
	l, r := netip.MustParseAddrPort(local), netip.MustParseAddrPort(remote)
	fam := unix.AF_INET
	if l.Addr().Is6() {
		fam = unix.AF_INET6
	}
	return &Socket{Family: fam, Local: l, Remote: r}
}

func locked(s *Socket) *Socket { s.PortLocked = true; return s }

// The sockets ss's differential test holds, in the kernel's eyes:
// listeners and explicitly bound clients have their port locked.
var (
	listen4   = locked(sock("127.0.0.1:8080", "0.0.0.0:0"))
	listenAny = locked(sock("[::]:8443", "[::]:0"))
	client4   = sock("127.0.0.1:40100", "127.0.0.1:8080")
	server4   = sock("127.0.0.1:8080", "127.0.0.1:40100") // accepted: the kernel clears the lock
	bound4    = locked(sock("10.1.2.3:40000", "10.1.2.3:80"))
	client6   = sock("[::1]:45000", "[::1]:8443")
	mapped    = sock("[::ffff:127.0.0.1]:8443", "[::ffff:127.0.0.1]:40200")
	timewait  = sock("127.0.0.1:22", "127.0.0.1:40300") // server side; time-wait sockets have no lock
)

func TestMatch(t *testing.T) {
	all := map[string]*Socket{
		"listen4": listen4, "listenAny": listenAny, "client4": client4, "server4": server4,
		"bound4": bound4, "client6": client6, "mapped": mapped, "timewait": timewait,
	}
	for _, tc := range []struct {
		expr string
		want string // the sockets that pass, sorted
	}{
		{"", "bound4 client4 client6 listen4 listenAny mapped server4 timewait"},
		{"sport = :8080", "listen4 server4"},
		{"sport != :8080", "bound4 client4 client6 listenAny mapped timewait"},
		{"dport = :8080 or sport = :8443", "client4 listenAny mapped"},
		{"sport > :8080", "bound4 client4 client6 listenAny mapped"},
		{"sport >= :8080", "bound4 client4 client6 listen4 listenAny mapped server4"},
		{"sport < :8080", "timewait"},
		// The kernel cuts 70000 to 16 bits (4464), ss does not.
		{"sport < :70000", "timewait"},
		{"sport > :70000", ""},
		// An IPv4 condition matches IPv4-mapped addresses, not the reverse.
		{"dst 127.0.0.1", "client4 mapped server4 timewait"},
		{"dst [::ffff:127.0.0.1]", "mapped"},
		{"src 0/0", "bound4 client4 listen4 mapped server4 timewait"},
		{"src 127.0.0.0/8:8080", "listen4 server4"},
		{"src [::]", "listenAny"},
		{"src ::/0", "client6 listenAny mapped"},
		{"dst default", "bound4 client4 client6 listen4 listenAny mapped server4 timewait"},
		{"src *:8443", "listenAny mapped"},
		{"dst inet:*", "bound4 client4 listen4 server4 timewait"},
		{"src inet6:*", "client6 listenAny mapped"},
		// autobound: the kernel wants an unlocked port, ss an ephemeral
		// one; both must agree, so a server's accepted socket and an
		// explicitly bound client are neither autobound nor not.
		{"autobound", "client4 client6"},
		{"not autobound", "listen4 listenAny"},
		{"sport = :8080 and not sport = :8080", ""},
		{"! ( sport = :8080 or sport = :22 )", "bound4 client4 client6 listenAny mapped"},
	} {
		f, err := Parse(strings.Fields(tc.expr), testConfig())
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		var got []string
		for name, s := range all {
			if f.Match(s) {
				got = append(got, name)
			}
		}
		if g := sorted(got); g != tc.want {
			t.Errorf("%s (%s):\n got %s\nwant %s", tc.expr, f, g, tc.want)
		}
	}
}

// A host name resolving to several addresses: the kernel tests the first
// only, ss all of them. Both must pass, so "dst H" is the first address,
// and "not dst H" none of them.
func TestMatchHostNames(t *testing.T) {
	first := sock("10.9.9.9:40000", "10.0.0.1:80")
	second := sock("10.9.9.9:40001", "10.0.0.2:80")
	other := sock("10.9.9.9:40002", "10.0.0.3:80")
	for _, tc := range []struct {
		expr string
		want [3]bool
	}{
		{"dst twohomed", [3]bool{true, false, false}},
		{"not dst twohomed", [3]bool{false, false, true}},
	} {
		f, err := Parse(strings.Fields(tc.expr), testConfig())
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range []*Socket{first, second, other} {
			if got := f.Match(s); got != tc.want[i] {
				t.Errorf("%s on %v: %v", tc.expr, s.Remote, got)
			}
		}
	}
}

func TestMatchOwn(t *testing.T) {
	s := sock("127.0.0.1:40000", "127.0.0.1:80")
	s.PID, s.UID, s.HasUID, s.Netns = 42, 1000, true, 4026531840
	s.Comm = snapshot.CommOf("a-very-long-program-name")
	s.Err, s.Lifetime, s.HasLifetime = "ECONNREFUSED", 15*time.Millisecond, true
	unknown := sock("127.0.0.1:40001", "127.0.0.1:80")
	for _, tc := range []struct {
		expr           string
		known, unknown bool
	}{
		{"pid = 42", true, false},
		{"pid != 42", false, true},
		{"pid > 41", true, false},
		{"pid < 42", false, false},
		{"uid = 1000", true, false},
		{"uid >= 1001", false, false},
		{"comm = a-very-long-pro", true, false}, // the kernel keeps 15 bytes
		{"comm = a-very-long-program-name", true, false},
		{"comm = a-very", false, false},
		{"netns = 4026531840", true, false},
		{"error = ECONNREFUSED", true, false},
		{"error = ETIMEDOUT", false, false},
		{"error != ETIMEDOUT", true, true},
		{"lifetime > 10ms", true, false},
		{"lifetime < 10ms", false, false},
		{"lifetime != 15ms", false, true},
	} {
		f, err := Parse(strings.Fields(tc.expr), testConfig())
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := f.Match(s); got != tc.known {
			t.Errorf("%s: %v, want %v", tc.expr, got, tc.known)
		}
		if got := f.Match(unknown); got != tc.unknown {
			t.Errorf("%s on a socket without owner and end: %v, want %v", tc.expr, got, tc.unknown)
		}
	}
}

func TestMatchContainer(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// Two processes' cgroups, as the container package reads them.
	proc := t.TempDir()
	for pid, cg := range map[string]string{"42": "/system.slice/docker-" + id + ".scope", "43": "/system.slice/nginx.service"} {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "cgroup"), []byte("0::"+cg+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := container.NewResolver(container.Config{ProcRoot: proc, PodLogs: t.TempDir()})
	s := sock("127.0.0.1:40000", "127.0.0.1:80")
	s.PID, s.Container = 42, r.Lookup(42, 0, snapshot.CommOf("web"), time.Now())
	u := sock("127.0.0.1:40001", "127.0.0.1:80")
	u.PID, u.Container = 43, r.Lookup(43, 0, snapshot.CommOf("nginx"), time.Now())
	unknown := sock("127.0.0.1:40002", "127.0.0.1:80")
	for _, tc := range []struct {
		expr string
		want [3]bool
	}{
		{"container = docker:0123456789ab", [3]bool{true, false, false}}, // as socktrace shows it
		{"container = 0123456789ab", [3]bool{true, false, false}},        // as docker ps does
		{"container = 0123456789a", [3]bool{false, false, false}},        // shorter: no
		{"container = docker://" + id, [3]bool{true, false, false}},
		{"container = " + id, [3]bool{true, false, false}},
		{"container = nginx.service", [3]bool{false, true, false}},
		{"container != nginx.service", [3]bool{true, false, true}},
	} {
		f, err := Parse(strings.Fields(tc.expr), testConfig())
		if err != nil {
			t.Fatal(err)
		}
		for i, sk := range []*Socket{s, u, unknown} {
			if got := f.Match(sk); got != tc.want[i] {
				t.Errorf("%s on socket %d: %v", tc.expr, i, got)
			}
		}
	}
}

func TestMatchUnix(t *testing.T) {
	named := &Socket{Family: unix.AF_UNIX, LocalPath: "/run/Docker.sock", PeerPath: ""}
	auto := &Socket{Family: unix.AF_UNIX, LocalPath: "@0001f"}
	anon := &Socket{Family: unix.AF_UNIX}
	for _, tc := range []struct {
		expr string
		want [3]bool
	}{
		{"src unix:/run/*", [3]bool{true, false, false}},
		{"src unix:/RUN/docker.*", [3]bool{true, false, false}}, // case folded, as ss does
		{"src unix:*", [3]bool{true, true, true}},
		{"src unix:[/@]*", [3]bool{true, true, false}},
		{"autobound", [3]bool{false, true, true}},
		{"sport = :22", [3]bool{false, false, false}},
	} {
		f, err := Parse(strings.Fields(tc.expr), testConfig())
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range []*Socket{named, auto, anon} {
			if got := f.Match(s); got != tc.want[i] {
				t.Errorf("%s on %q: %v", tc.expr, s.LocalPath, got)
			}
		}
	}
}

func TestStateMatch(t *testing.T) {
	f, err := Parse([]string{"state", "time-wait", "state", "syn-sent"}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !f.StateMatch(tcpstate.FinWait2, tcpstate.TimeWait) || !f.StateMatch(tcpstate.SynSent, tcpstate.Close) || f.StateMatch(tcpstate.Established, tcpstate.FinWait1) {
		t.Error("state words match old or new state")
	}
	none, _ := Parse(nil, testConfig())
	if !none.StateMatch(tcpstate.Established, tcpstate.Established) {
		t.Error("no state words match every state")
	}
}

func TestFnmatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true},
		{"*", "/a/b", true}, // no FNM_PATHNAME: * crosses slashes
		{"/run/*.sock", "/run/x/y.sock", true},
		{"/run/?.sock", "/run/ab.sock", false},
		{"[!/]*", "@abc", true},
		{"[!/]*", "/abc", false},
		{"[a-c]x", "Bx", true},
		{`\*x`, "*x", true},
		{`\*x`, "ax", false},
		{"[x", "[x", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
	} {
		if got := fnmatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("fnmatch(%q, %q) = %v", tc.pattern, tc.name, got)
		}
	}
}

func sorted(names []string) string {
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	return strings.Join(names, " ")
}
