package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
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

// intervalArgs rewrites the ways of giving -c its interval as the one
// pflag parses for a flag whose value is optional, --continuous=N:
// "-c 2", "-c2", "-tnc2" and "--continuous 2" all mean every 2 seconds.
//
// Deliberately unlike netstat, whose -c takes no interval (always one
// second), ignores a stray "2" and reads -c2 as -c -2 (Bluetooth):
// socktrace documents -c [secs]. What netstat reads as flags (-c4,
// -c -6) stays flags, so netstat's command lines keep their meaning.
func intervalArgs(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		before, secs, found := cutInterval(fs, a)
		if found && secs == "" && i+1 < len(args) && isIntervalArg(fs, args[i+1]) {
			i++
			secs = args[i]
		}
		if secs == "" {
			out = append(out, a)
			continue
		}
		if before != "" {
			out = append(out, before)
		}
		out = append(out, "--continuous="+secs)
	}
	return out
}

// cutInterval finds -c in one argument: the flags before it, the interval
// glued to it, and whether the argument ends with -c or its interval. A -c
// followed by more flags (-ctn) has no interval.
func cutInterval(fs *pflag.FlagSet, arg string) (before, secs string, found bool) {
	if arg == "--continuous" {
		return "", "", true
	}
	if len(arg) < 2 || arg[0] != '-' || arg[1] == '-' {
		return "", "", false
	}
	for i := 1; i < len(arg); i++ {
		f := fs.ShorthandLookup(arg[i : i+1])
		if f == nil {
			continue // pflag says it is unknown
		}
		if f.NoOptDefVal == "" {
			return "", "", false // the rest is this flag's value
		}
		if f.Name != "continuous" {
			continue
		}
		rest := arg[i+1:]
		if rest != "" && !isNumber(fs, rest) {
			continue
		}
		if i > 1 {
			before = arg[:i]
		}
		return before, rest, true
	}
	return "", "", false
}

// isIntervalArg reports whether the argument after -c is its interval:
// anything but flags, so that "-c abc" and "-c -1" are bad intervals.
func isIntervalArg(fs *pflag.FlagSet, arg string) bool {
	if arg == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(arg, "-"); ok {
		return isNumber(fs, rest)
	}
	return true
}

// isNumber reports whether s starts with a digit and is not all flags:
// -4 and -6 are.
func isNumber(fs *pflag.FlagSet, s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	for i := range len(s) {
		if fs.ShorthandLookup(s[i:i+1]) == nil {
			return true
		}
	}
	return false
}

// familyValue is a boolean flag that names an address family (-4, -6,
// -x). Each time it is given, its netstat name is appended to order:
// netstat's refusals list the families as they were typed, repeats too
// ("-s -4 -x -4": inet,unix,inet).
type familyValue struct {
	on    *bool
	name  string // netstat's: "inet", "inet6", "unix"
	order *[]string
}

func familyFlag(on *bool, name string, order *[]string) *familyValue {
	return &familyValue{on: on, name: name, order: order}
}

func (v *familyValue) Set(s string) error {
	on, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*v.on = on
	if on {
		*v.order = append(*v.order, v.name)
	}
	return nil
}

func (v *familyValue) String() string { return strconv.FormatBool(*v.on) }

// Type is "bool", so --help and flagError treat it as pflag's own booleans.
func (v *familyValue) Type() string { return "bool" }
