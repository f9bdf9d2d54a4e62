package main

import (
	"fmt"
	"strings"

	"github.com/socktrace/socktrace/internal/netstat"
	"github.com/socktrace/socktrace/internal/render"
)

// netstat reads its command line with glibc's getopt_long, which takes any
// prefix of a long option that names one option (--prog is --programs) and
// refuses one that could name several. pflag knows no prefixes, so the root
// command first reads its command line here, as netstat would, and hands
// pflag the one spelling it parses.

// longOption is an entry of netstat's table of long options.
type longOption struct {
	name string
	// val is what getopt_long returns for the option: the short option
	// it stands for, or familyOption for every address family option.
	val byte
	arg bool // takes an argument; only --protocol does
}

// familyOption is the val of the address family options (--inet, --ipx,
// ...): they all share it, so getopt_long never finds two of them
// ambiguous (--ine is --inet, not --inet or --inet6).
const familyOption = 1

// netstatLongOptions is net-tools 2.10 netstat's table, in its order:
// getopt_long takes the first of the options a prefix matches, and lists
// the candidates of an ambiguous one in this order. The address family
// options come first; "unix" is there twice, as a family and as -x.
var netstatLongOptions = []longOption{
	{"ax25", familyOption, false}, {"x25", familyOption, false}, {"ip", familyOption, false},
	{"ipx", familyOption, false}, {"appletalk", familyOption, false}, {"netrom", familyOption, false},
	{"inet", familyOption, false}, {"inet6", familyOption, false}, {"ddp", familyOption, false},
	{"unix", familyOption, false}, {"rose", familyOption, false}, {"bluetooth", familyOption, false},
	{"tcpip", familyOption, false},
	{"version", 'V', false}, {"interfaces", 'i', false}, {"help", 'h', false}, {"route", 'r', false},
	{"masquerade", 'M', false}, {"protocol", 'A', true}, {"tcp", 't', false}, {"sctp", 'S', false},
	{"udp", 'u', false}, {"udplite", 'U', false}, {"raw", 'w', false}, {"unix", 'x', false},
	{"l2cap", '2', false}, {"rfcomm", 'f', false}, {"listening", 'l', false}, {"all", 'a', false},
	{"timers", 'o', false}, {"continuous", 'c', false}, {"extend", 'e', false}, {"programs", 'p', false},
	{"verbose", 'v', false}, {"statistics", 's', false}, {"wide", 'W', false}, {"numeric", 'n', false},
	{"numeric-hosts", '!', false}, {"numeric-ports", '@', false}, {"numeric-users", '#', false},
	{"symbolic", 'N', false}, {"cache", 'C', false}, {"fib", 'F', false}, {"groups", 'g', false},
	{"context", 'Z', false},
}

// netstatShortOptions are the short options netstat's getopt_long takes;
// only -A has an argument. -? is an option too: it asks for the usage.
const netstatShortOptions = "ACFMacdeghilnNoprsStuUvVWw2fx64?Z"

// flagNames are the root command's flags for netstat's options. -d, which
// netstat takes and ignores, has none; -A is --protocol=LIST.
var flagNames = map[byte]string{
	'V': "version", 'i': "interfaces", 'h': "help", 'r': "route", 'M': "masquerade",
	't': "tcp", 'S': "sctp", 'u': "udp", 'U': "udplite", 'w': "raw", 'x': "unix",
	'2': "l2cap", 'f': "rfcomm", 'l': "listening", 'a': "all", 'o': "timers",
	'c': "continuous", 'e': "extend", 'p': "programs", 'v': "verbose", 's': "statistics",
	'W': "wide", 'n': "numeric", '!': "numeric-hosts", '@': "numeric-ports",
	'#': "numeric-users", 'N': "symbolic", 'C': "cache", 'F': "fib", 'g': "groups",
	'Z': "context", '4': "inet", '6': "inet6",
}

// ownLongOptions are socktrace's own long options, which netstat has not:
// taken by their whole name only, so that no prefix netstat takes (--li
// is --listening) means anything else here. The value says whether the
// option takes an argument.
var ownLongOptions = map[string]bool{
	"json": false, "linger": true, "proc-root": true, "etc-root": true, "cpuprofile": true,
}

// netstatArgs reads args as netstat does and returns them in the one
// spelling the root command's flag set parses: each option by its long
// name, -A's list as --protocol=LIST, -c's interval as --continuous=SECS,
// other arguments as they are. It stops after an option that ends
// netstat's reading (-V, -h, -Z), and refuses in netstat's words what
// netstat refuses while reading: an unknown or ambiguous option, a
// missing or unwanted argument, an unknown address family.
//
// One deliberate difference: -c takes an interval (-c 2, -c2, -tnc2, -c=2,
// --continuous=2), where netstat's -c takes none and reads -c2 as -c -2.
func netstatArgs(args []string) ([]string, error) {
	r := argReader{args: args}
	for r.i < len(r.args) && !r.stop {
		a := r.args[r.i]
		r.i++
		var err error
		switch {
		case a == "--":
			r.out = append(r.out, r.args[r.i-1:]...)
			r.i = len(r.args)
		case strings.HasPrefix(a, "--"):
			err = r.long(a[2:])
		case len(a) > 1 && a[0] == '-':
			err = r.shorts(a[1:])
		default:
			r.out = append(r.out, a) // not an option: left to checkArgs
		}
		if err != nil {
			return nil, err
		}
	}
	return r.out, nil
}

// argReader is netstatArgs's place in the command line.
type argReader struct {
	args []string
	i    int // the next argument
	out  []string
	stop bool // an option that ends netstat's reading was read
	// families is how long netstat's list of named address families
	// would be, "inet,unix": netstat keeps it in 256 bytes.
	families int
}

// next takes the next argument, if there is one.
func (r *argReader) next() (string, bool) {
	if r.i >= len(r.args) {
		return "", false
	}
	r.i++
	return r.args[r.i-1], true
}

// long reads a long option, without its "--".
func (r *argReader) long(arg string) error {
	name, value, hasValue := strings.Cut(arg, "=")
	if _, ok := ownLongOptions[name]; ok {
		return r.own(name, arg, hasValue)
	}
	o, err := findLong(arg, name)
	if err != nil {
		return err
	}
	switch {
	case hasValue && !o.arg && o.val != 'c':
		return usageRefusal(fmt.Sprintf("option '--%s' doesn't allow an argument", o.name))
	case o.arg && !hasValue:
		v, ok := r.next()
		if !ok {
			return usageRefusal(fmt.Sprintf("option '--%s' requires an argument", o.name))
		}
		value = v
	}
	switch {
	case o.val == familyOption && o.name == "tcpip":
		// netstat 2.10's --tcpip lies past the end of its own list of
		// family options: it prints an internal error and selects
		// nothing. -A tcpip is IPv4.
		r.out = append(r.out, "--tcpip")
		return nil
	case o.val == familyOption:
		return r.protocol(o.name)
	case o.val == 'c' && hasValue:
		r.out = append(r.out, "--continuous="+value)
		return nil
	case o.val == 'c':
		r.continuous()
		return nil
	}
	return r.option(o.val, value)
}

// own reads one of socktrace's own long options: pflag reads its value.
func (r *argReader) own(name, arg string, hasValue bool) error {
	r.out = append(r.out, "--"+arg)
	if ownLongOptions[name] && !hasValue {
		if v, ok := r.next(); ok {
			r.out = append(r.out, v)
		}
	}
	return nil
}

// findLong finds the option a long option's name, or a prefix of it,
// stands for, by glibc's rules: a whole name first; else the first option
// it is a prefix of, unless a later one differs from that one in what it
// does (val) or in taking an argument. arg is the option as typed, for
// the messages, which quote it whole.
func findLong(arg, name string) (longOption, error) {
	for _, o := range netstatLongOptions {
		if o.name == name {
			return o, nil
		}
	}
	first := -1
	var ambiguous []int
	for i, o := range netstatLongOptions {
		if !strings.HasPrefix(o.name, name) {
			continue
		}
		if first < 0 {
			first = i
			continue
		}
		if f := netstatLongOptions[first]; o.val != f.val || o.arg != f.arg {
			if ambiguous == nil {
				ambiguous = append(ambiguous, first)
			}
			ambiguous = append(ambiguous, i)
		}
	}
	switch {
	case first < 0:
		return longOption{}, usageRefusal(fmt.Sprintf("unrecognized option '--%s'", render.Safe(arg)))
	case ambiguous != nil:
		var b strings.Builder
		fmt.Fprintf(&b, "option '--%s' is ambiguous; possibilities:", render.Safe(arg))
		for _, i := range ambiguous {
			fmt.Fprintf(&b, " '--%s'", netstatLongOptions[i].name)
		}
		return longOption{}, usageRefusal(b.String())
	}
	return netstatLongOptions[first], nil
}

// shorts reads a cluster of short options, without its "-".
func (r *argReader) shorts(cluster string) error {
	for j := 0; j < len(cluster) && !r.stop; j++ {
		c := cluster[j]
		rest := cluster[j+1:]
		switch {
		case strings.IndexByte(netstatShortOptions, c) < 0:
			return usageRefusal(fmt.Sprintf("invalid option -- '%s'", render.Safe(string([]byte{c}))))
		case c == 'A':
			list := rest
			if rest == "" {
				v, ok := r.next()
				if !ok {
					return usageRefusal("option requires an argument -- 'A'")
				}
				list = v
			}
			return r.protocol(list)
		case c == 'c' && isInterval(rest):
			r.out = append(r.out, "--continuous="+rest)
			return nil
		case c == 'c' && strings.HasPrefix(rest, "="):
			r.out = append(r.out, "--continuous="+rest[1:])
			return nil
		case c == 'c' && rest == "":
			r.continuous()
			continue
		}
		if err := r.option(c, ""); err != nil {
			return err
		}
	}
	return nil
}

// option adds the flag for one of netstat's options, other than -A.
func (r *argReader) option(c byte, value string) error {
	switch c {
	case 'd':
		return nil // netstat takes -d and does nothing with it
	case '?':
		return usageRefusal("")
	case 'A':
		return r.protocol(value)
	case 'V', 'h', 'Z':
		r.stop = true
	case '4':
		return r.family("inet", "--inet")
	case '6':
		return r.family("inet6", "--inet6")
	case 'x':
		return r.family("unix", "--unix")
	}
	r.out = append(r.out, "--"+flagNames[c])
	return nil
}

// continuous adds -c, with the interval if the next argument is one:
// "-c 2", "-tc 2", "--continuous 2".
func (r *argReader) continuous() {
	if r.i < len(r.args) && isIntervalArg(r.args[r.i]) {
		r.out = append(r.out, "--continuous="+r.args[r.i])
		r.i++
		return
	}
	r.out = append(r.out, "--continuous")
}

// protocol reads -A's list of address families, in netstat's names or
// its aliases ("ip" for "inet"). netstat reads at most 255 bytes of it.
func (r *argReader) protocol(list string) error {
	if len(list) > 255 {
		list = list[:255]
	}
	for _, alias := range strings.Split(list, ",") {
		name, ok := addressFamilies[alias]
		if !ok {
			return netstat.Refusal{Msg: fmt.Sprintf("Unknown address family `%s'.", render.Safe(alias)), Status: 1}
		}
		if err := r.family(name, ""); err != nil {
			return err
		}
	}
	r.out = append(r.out, "--protocol="+list)
	return nil
}

// family counts one more named address family, and adds flag if not "".
// netstat keeps the families' names, comma-separated, in 256 bytes, and
// drops a family that does not fit; socktrace refuses it.
func (r *argReader) family(name, flag string) error {
	n := len(name)
	if r.families > 0 {
		n++
	}
	if r.families+n >= 256 {
		return netstat.Refusal{Msg: "Too much address family arguments.", Status: 1}
	}
	r.families += n
	if flag != "" {
		r.out = append(r.out, flag)
	}
	return nil
}

// addressFamilies are the names -A takes, each with the family netstat
// takes it for.
var addressFamilies = map[string]string{
	"ax25": "ax25", "ip": "inet", "ip6": "inet6", "ipx": "ipx", "rose": "rose",
	"appletalk": "ddp", "netrom": "netrom", "inet": "inet", "inet6": "inet6",
	"ddp": "ddp", "unix": "unix", "tcpip": "inet", "econet": "ec", "x25": "x25",
	"ash": "ash", "bluetooth": "bluetooth",
}

// isInterval reports whether s, what follows -c in a cluster, is its
// interval: a digit, then anything but netstat's short options only. -c4x
// stays -c -4 -x, as in netstat; -c2 is every 2 seconds, not netstat's
// -c -2 (Bluetooth), and -c60 every minute.
func isInterval(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	for i := range len(s) {
		if s[i] == '2' || strings.IndexByte(netstatShortOptions, s[i]) < 0 {
			return true
		}
	}
	return false
}

// isIntervalArg reports whether the argument after -c is its interval:
// a word that starts with a digit, or a minus and a digit, so that "-c
// 1.5" and "-c -1" are bad intervals. Other words are the filter's:
// "-c dport = :443".
func isIntervalArg(arg string) bool {
	if arg == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(arg, "-"); ok {
		return isInterval(rest)
	}
	return arg[0] >= '0' && arg[0] <= '9'
}

// netstatUsage is netstat's usage, word for word but for the command's
// name: what netstat prints after getopt's complaint. socktrace --help
// tells socktrace's own options.
const netstatUsage = `usage: socktrace [-vWeenNcCF] [<Af>] -r         socktrace {-V|--version|-h|--help}
       socktrace [-vWnNcaeol] [<Socket> ...]
       socktrace { [-vWeenNac] -i | [-cnNe] -M | -s [-6tuw] }

        -r, --route              display routing table
        -i, --interfaces         display interface table
        -g, --groups             display multicast group memberships
        -s, --statistics         display networking statistics (like SNMP)
        -M, --masquerade         display masqueraded connections

        -v, --verbose            be verbose
        -W, --wide               don't truncate IP addresses
        -n, --numeric            don't resolve names
        --numeric-hosts          don't resolve host names
        --numeric-ports          don't resolve port names
        --numeric-users          don't resolve user names
        -N, --symbolic           resolve hardware names
        -e, --extend             display other/more information
        -p, --programs           display PID/Program name for sockets
        -o, --timers             display timers
        -c, --continuous         continuous listing

        -l, --listening          display listening server sockets
        -a, --all                display all sockets (default: connected)
        -F, --fib                display Forwarding Information Base (default)
        -C, --cache              display routing cache instead of FIB
        -Z, --context            display SELinux security context for sockets

  <Socket>={-t|--tcp} {-u|--udp} {-U|--udplite} {-S|--sctp} {-w|--raw}
           {-x|--unix} --ax25 --ipx --netrom
  <AF>=Use '-6|-4' or '-A <af>' or '--<af>'; default: inet
  List of possible address families (which support routing):
    inet (DARPA Internet) inet6 (IPv6) ax25 (AMPR AX.25) ` + "\n" +
	`    netrom (AMPR NET/ROM) rose (AMPR ROSE) ipx (Novell IPX) ` + "\n" +
	`    ddp (Appletalk DDP) x25 (CCITT X.25) `
