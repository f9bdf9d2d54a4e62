package table

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/socktrace/socktrace/snapshot"
)

// maxPrograms bounds the program name cache; it is cleared when full.
const maxPrograms = 4096

// programs turns owners into netstat's "Program name" (argv[0]'s base
// name), which the kernel does not know: it has the task name. Each process
// is read once, as soon as the reader sees it (see SeeProgram): one that has
// exited by then keeps its task name. It has its own lock, so that the
// reader reads /proc without holding the table's.
type programs struct {
	procRoot string
	mu       sync.Mutex
	names    map[snapshot.Owner]string
}

func newPrograms(procRoot string) *programs {
	return &programs{procRoot: procRoot, names: make(map[snapshot.Owner]string)}
}

func (p *programs) learn(o snapshot.Owner, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.names) >= maxPrograms {
		clear(p.names)
	}
	p.names[o] = name
}

func (p *programs) known(o snapshot.Owner) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name, ok := p.names[o]
	return name, ok
}

func (p *programs) name(o snapshot.Owner) string {
	if name, ok := p.known(o); ok {
		return name
	}
	name := o.Comm.String()
	dir := filepath.Join(p.procRoot, strconv.Itoa(int(o.PID)))
	// The task name is checked so a reused pid is not given another
	// process's name.
	if processNamed(dir, name) {
		if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			if prog := snapshot.ProgramName(cmdline); prog != "" {
				name = prog
			}
		}
	}
	p.learn(o, name)
	return name
}

// processNamed says whether the process in dir is named name: the kernel
// names an owner by its process (the thread group leader's comm), not by a
// thread that renamed itself.
func processNamed(dir, name string) bool {
	comm, err := os.ReadFile(filepath.Join(dir, "comm"))
	return err == nil && string(trimNewline(comm)) == name
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// Program is netstat's program name for an owner.
func (t *Table) Program(o snapshot.Owner) string { return t.programs.name(o) }

// SeeProgram reads o's program name now, unless it is known: a process that
// connects and exits has no cmdline left when the next table is printed.
// Safe without the table's lock, for the reader to call before it applies
// the events that name o.
func (t *Table) SeeProgram(o snapshot.Owner) { t.programs.name(o) }
