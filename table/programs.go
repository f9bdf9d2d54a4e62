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
	dir := filepath.Join(p.procRoot, strconv.Itoa(int(o.PID)))
	// The task name is checked so a reused pid is not given another
	// process's name.
	if hasTaskNamed(dir, name) {
		if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			if prog := snapshot.ProgramName(cmdline); prog != "" {
				name = prog
			}
		}
	}
	p.learn(o, name)
	return name
}

// maxThreadsChecked bounds the threads read for one owner.
const maxThreadsChecked = 1024

// hasTaskNamed says whether the process in dir has a thread named name. The
// kernel names an owner by the thread that used the socket, which may have
// renamed itself (a "NetWorker" thread of python3): the main thread's name
// is checked first, then the others'.
func hasTaskNamed(dir, name string) bool {
	if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil && string(trimNewline(comm)) == name {
		return true
	}
	tasks, err := os.ReadDir(filepath.Join(dir, "task"))
	if err != nil {
		return false
	}
	for _, task := range tasks[:min(len(tasks), maxThreadsChecked)] {
		comm, err := os.ReadFile(filepath.Join(dir, "task", task.Name(), "comm"))
		if err == nil && string(trimNewline(comm)) == name {
			return true
		}
	}
	return false
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// Program is netstat's program name for an owner.
func (t *Table) Program(o Owner) string { return t.programs.name(o) }
