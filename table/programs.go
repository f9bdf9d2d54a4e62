package table

import (
	"os"
	"path/filepath"
	"strconv"

	"github.com/socktrace/socktrace/snapshot"
)

// maxPrograms bounds the program name cache; it is cleared when full.
const maxPrograms = 4096

// programs turns owners into netstat's "Program name" (argv[0]'s base
// name), which the kernel does not know: it has the task name. Each process
// is read once; one that has exited keeps its task name.
type programs struct {
	procRoot string
	names    map[Owner]string
}

func newPrograms(procRoot string) *programs {
	return &programs{procRoot: procRoot, names: make(map[Owner]string)}
}

func (p *programs) learn(o Owner, name string) {
	if len(p.names) >= maxPrograms {
		clear(p.names)
	}
	p.names[o] = name
}

func (p *programs) name(o Owner) string {
	if name, ok := p.names[o]; ok {
		return name
	}
	name := o.Comm.String()
	// The task name is checked so a reused pid is not given another
	// process's name.
	comm, err := os.ReadFile(filepath.Join(p.procRoot, strconv.Itoa(int(o.PID)), "comm"))
	if err == nil && string(trimNewline(comm)) == name {
		if cmdline, err := os.ReadFile(filepath.Join(p.procRoot, strconv.Itoa(int(o.PID)), "cmdline")); err == nil {
			if prog := snapshot.ProgramName(cmdline); prog != "" {
				name = prog
			}
		}
	}
	p.learn(o, name)
	return name
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// Program is netstat's program name for an owner.
func (t *Table) Program(o Owner) string { return t.programs.name(o) }
