package snapshot

import (
	"slices"
	"strings"
	"testing"
)

// Lines as the kernel writes them: optional fields or none, a path with an
// escaped space, tracefs at both of its usual places, and a bind mount of
// a directory inside tracefs.
const mountinfoFixture = `22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
53 22 0:13 / /sys/kernel/tracing rw,relatime - tracefs nodev rw
60 22 0:7 / /sys/kernel/debug rw,nosuid,nodev,noexec,relatime shared:12 master:3 - debugfs debugfs rw
61 60 0:13 / /sys/kernel/debug/tracing rw,nosuid,nodev,noexec,relatime shared:13 - tracefs tracefs rw
70 28 0:13 /events /srv/trace\040events rw,relatime - tracefs nodev rw
`

func TestParseMountinfo(t *testing.T) {
	got, err := ParseMountinfo(strings.NewReader(mountinfoFixture))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Root: "/", Point: "/sys", FSType: "sysfs"},
		{Root: "/", Point: "/", FSType: "ext4"},
		{Root: "/", Point: "/sys/kernel/tracing", FSType: "tracefs"},
		{Root: "/", Point: "/sys/kernel/debug", FSType: "debugfs"},
		{Root: "/", Point: "/sys/kernel/debug/tracing", FSType: "tracefs"},
		{Root: "/events", Point: "/srv/trace events", FSType: "tracefs"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseMountinfoMalformed(t *testing.T) {
	for _, line := range []string{
		"53 22 0:13 / /sys/kernel/tracing rw,relatime tracefs nodev rw", // no "-"
		"53 22 0:13 / /sys/kernel/tracing rw,relatime -",                // nothing after it
		"53 22 0:13 /",
	} {
		_, err := ParseMountinfo(strings.NewReader(mountinfoFixture + line + "\n"))
		if err == nil || !strings.Contains(err.Error(), "line 7") {
			t.Errorf("%q: got %v, want an error naming line 7", line, err)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:               "/plain",
		`/a\040b`:              "/a b",
		`/tab\011nl\012bs\134`: "/tab\tnl\nbs\\",
		`/short\04`:            `/short\04`, // not three digits: as written
		`/not\999octal`:        `/not\999octal`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}
