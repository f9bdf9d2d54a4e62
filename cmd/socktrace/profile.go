package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/spf13/pflag"
)

// addProfileFlag adds the hidden --cpuprofile FILE: a CPU profile of the
// run, for the profile-guided build (bench/pgo.sh turns profiles of trace
// and -c under churn into cmd/socktrace/default.pgo, which go build uses).
func addProfileFlag(fs *pflag.FlagSet, path *string) {
	fs.StringVar(path, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = fs.MarkHidden("cpuprofile")
}

// cpuProfile starts profiling into path; stop ends it. With no path it
// does nothing.
func cpuProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
