package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/socktrace/socktrace/internal/netstat"
)

// usageError is a mistake on the command line: one line saying what is
// wrong, and one saying where to read how to get it right.
type usageError struct {
	msg  string
	path string // the command: "socktrace", "socktrace trace"
}

func (e usageError) Error() string {
	return fmt.Sprintf("%s\nTry '%s --help' for more information.", e.msg, e.path)
}

// usageOf makes err, a command's refusal of a flag's value after parsing,
// a usage error of cmd, worded and ended as pflag's refusals are
// (flagError).
func usageOf(cmd *cobra.Command, err error) error {
	// A filter's mistake says where it is, and is no flag's: exit status 1.
	if err == nil || errors.As(err, new(usageError)) || errors.As(err, new(filterError)) {
		return err
	}
	return usageError{err.Error(), cmd.CommandPath()}
}

// usageRefusal is getopt's complaint (say) and netstat's usage, with exit
// status 3, as netstat answers a command line it cannot read. An empty
// say gives the usage alone, as netstat gives it for -? and for two of
// -r, -i, -s and -M.
func usageRefusal(say string) netstat.Refusal {
	if say == "" {
		return netstat.Refusal{Msg: netstatUsage, Status: 3}
	}
	return netstat.Refusal{Msg: "socktrace: " + say + "\n" + netstatUsage, Status: 3}
}

// flagError turns pflag's complaints into usage errors. A bad value is
// said in the user's terms ("--port 70000: want a port number from 1 to
// 65535"): pflag's own text quotes strconv, which tells nobody what to type.
func flagError(cmd *cobra.Command, err error) error {
	var bad *pflag.InvalidValueError
	if !errors.As(err, &bad) {
		return usageError{err.Error(), cmd.CommandPath()}
	}
	f, value := bad.GetFlag(), bad.GetValue()
	name := "--" + f.Name
	if f.Shorthand != "" {
		name = "-" + f.Shorthand
	}
	if value == "" {
		value = `""`
	}
	return usageError{fmt.Sprintf("%s %s: %s", name, value, wanted(bad)), cmd.CommandPath()}
}

// wanted says what a flag takes, for flags without a numberValue.
func wanted(bad *pflag.InvalidValueError) string {
	var w wantError
	if errors.As(bad, &w) {
		return string(w)
	}
	switch t := bad.GetFlag().Value.Type(); t {
	case "bool":
		return "want true or false"
	case "duration":
		return "want a duration such as 50ms, 10s or 1m30s"
	case "count", "int":
		return "want a whole number"
	default:
		return "want a " + t
	}
}

// wantError is a numberValue's complaint, the whole of it.
type wantError string

func (w wantError) Error() string { return string(w) }

// numberValue is a whole-number flag that takes only min to max.
type numberValue[T ~int | ~uint16 | ~uint32] struct {
	p        *T
	min, max T
	want     string // "want a port number from 1 to 65535"
}

func numberFlag[T ~int | ~uint16 | ~uint32](p *T, min, max T, want string) *numberValue[T] {
	return &numberValue[T]{p: p, min: min, max: max, want: want}
}

func (v *numberValue[T]) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < int64(v.min) || n > int64(v.max) {
		return wantError(v.want)
	}
	*v.p = T(n)
	return nil
}

func (v *numberValue[T]) String() string { return strconv.FormatInt(int64(*v.p), 10) }

// Type is the Go type, as for pflag's own number flags: --help reads the same.
func (v *numberValue[T]) Type() string { return fmt.Sprintf("%T", *v.p) }

// familyValue is a boolean flag that names an address family: -4, -6, -x.
type familyValue struct {
	o    *netstatOptions
	name string // netstat's: "inet", "inet6", "unix"
}

func (v familyValue) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	if on {
		v.o.addFamily(v.name)
	}
	return nil
}

func (v familyValue) String() string {
	return strconv.FormatBool(slices.Contains(v.o.families, v.name))
}

// Type is "bool", so --help and flagError treat it as pflag's own booleans.
func (v familyValue) Type() string { return "bool" }

// protocolValue is -A's list of address families, --protocol=LIST, in
// netstat's names or the aliases it takes ("ip" for "inet").
type protocolValue struct{ o *netstatOptions }

func (v protocolValue) Set(list string) error {
	for _, alias := range strings.Split(list, ",") {
		name, ok := addressFamilies[alias]
		if !ok {
			return wantError(fmt.Sprintf("unknown address family %q", alias))
		}
		v.o.addFamily(name)
	}
	return nil
}

func (v protocolValue) String() string { return strings.Join(v.o.families, ",") }

func (v protocolValue) Type() string { return "families" }
