package main

import (
	"errors"
	"io"
)

// tableOptions are the netstat options that the -r, -i and -s tables read.
// The root command fills it from its flags.
type tableOptions struct {
	procRoot     string // "/proc" except in tests
	numericHosts bool
	numericPorts bool
	numericUsers bool
	extend       int  // -e, -ee
	all          bool // -a: -i lists interfaces that are down too
	verbose      bool
	wide         bool
	inet4        bool // -4 / --inet
	inet6        bool // -6 / --inet6
	tcp          bool // -s -t
	udp          bool // -s -u
	udplite      bool // -s -U
	raw          bool // -s -w
	json         bool
}

// runRoutes prints the kernel routing table (-r).
func runRoutes(w io.Writer, o tableOptions) error { return errors.New("-r: not built yet") }

// runInterfaces prints the interface table (-i).
func runInterfaces(w io.Writer, o tableOptions) error { return errors.New("-i: not built yet") }

// runStats prints per-protocol statistics (-s).
func runStats(w io.Writer, o tableOptions) error { return errors.New("-s: not built yet") }
