package render

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/container"
	"github.com/socktrace/socktrace/snapshot"
	"github.com/socktrace/socktrace/tcpstate"
	"github.com/socktrace/socktrace/tracer"
)

const containerID = "3f4e1b2c5d6a7980aabbccddeeff00112233445566778899aabbccddeeff0011"

// containerProc is a proc tree with each pid in the cgroup given.
func containerProc(t *testing.T, cgroups map[uint32]string) *container.Resolver {
	dir := t.TempDir()
	for pid, path := range cgroups {
		d := filepath.Join(dir, strconv.Itoa(int(pid)))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup"), []byte("0::"+path+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return container.NewResolver(container.Config{ProcRoot: dir, PodLogs: filepath.Join(dir, "pods")})
}

func TestEventContainer(t *testing.T) {
	r := containerProc(t, map[uint32]string{
		4242: "/system.slice/docker-" + containerID + ".scope",
		5000: "/system.slice/evil\u202e\x1b[31m.service",
	})
	f := EventFormatter{Containers: r, Extended: true}
	ev := stateEvent()
	var got map[string]any
	line := f.AppendJSON(nil, &ev)
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", line, err)
	}
	if got["container"] != "docker:3f4e1b2c5d6a" || got["container_id"] != "docker://"+containerID {
		t.Errorf("container fields: %s", line)
	}
	text := string(f.AppendText(nil, &ev))
	if !strings.Contains(text, " churn           docker:3f4e1b2c5d6a tcp ") {
		t.Errorf("text line: %q", text)
	}
	if col := strings.Index(EventHeaderExtended, "PROTO"); strings.Index(text, "tcp ") != col {
		t.Errorf("PROTO at %d, header says %d: %q", strings.Index(text, "tcp "), col, text)
	}

	// A name from outside is escaped in both.
	ev.PID, ev.TID = 5000, 5000
	line = f.AppendJSON(nil, &ev)
	if !strings.Contains(string(line), `"container":"evil\u202e\u001b[31m.service"`) {
		t.Errorf("JSON not escaped: %s", line)
	}
	if strings.Contains(string(line), "container_id") {
		t.Errorf("a unit has no container id: %s", line)
	}
	if text := string(f.AppendText(nil, &ev)); !strings.Contains(text, `evil\xe2\x80\xae\x1b[31m.service `) {
		t.Errorf("text not escaped: %q", text)
	}

	// No owner, no container; without a resolver, no field.
	ev.Flags &^= tracer.FlagOwnerKnown
	if line := f.AppendJSON(nil, &ev); !strings.Contains(string(line), `"container":""`) {
		t.Errorf("unknown owner: %s", line)
	}
	if text := string(f.AppendText(nil, &ev)); !strings.Contains(text, " -               -                   tcp ") {
		t.Errorf("unknown owner text: %q", text)
	}
	var plain EventFormatter
	if line := plain.AppendJSON(nil, &ev); strings.Contains(string(line), "container") {
		t.Errorf("container without a resolver: %s", line)
	}
}

func TestAppendEventWithContainerAllocatesNothing(t *testing.T) {
	r := containerProc(t, map[uint32]string{4242: "/system.slice/docker-" + containerID + ".scope"})
	f := &EventFormatter{Containers: r, Extended: true}
	ev := stateEvent()
	buf := make([]byte, 0, 1024)
	for name, format := range map[string]func([]byte, *tracer.Event) []byte{"text": f.AppendText, "json": f.AppendJSON} {
		buf = format(buf[:0], &ev)
		if n := testing.AllocsPerRun(200, func() { buf = format(buf[:0], &ev) }); n != 0 {
			t.Errorf("%s: %v allocations per event", name, n)
		}
	}
}

func TestLiveJSONContainer(t *testing.T) {
	r := containerProc(t, map[uint32]string{9: "/system.slice/docker-" + containerID + ".scope"})
	s := snapshot.Socket{Proto: snapshot.TCP, State: tcpstate.Established,
		Local:  netip.MustParseAddrPort("127.0.0.1:8080"),
		Remote: netip.MustParseAddrPort("127.0.0.1:5000"), Inode: 7}
	var b bytes.Buffer
	n := Netstat{Names: fakeNames{}, Programs: true}
	owner := snapshot.Owner{PID: 9, Comm: snapshot.CommOf("srv")}
	l := Live{Owner: owner, Program: "srv", Container: r.Lookup(9, 0, owner.Comm, time.Now())}
	if err := n.LiveJSON(&b, &s, &l); err != nil {
		t.Fatal(err)
	}
	want := `"pid":9,"program":"srv","comm":"srv","container":"docker:3f4e1b2c5d6a","container_id":"docker://` + containerID + `"}` + "\n"
	if !strings.HasSuffix(b.String(), want) {
		t.Errorf("got  %s\nwant ...%s", b.String(), want)
	}
}
