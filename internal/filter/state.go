package filter

import "github.com/socktrace/socktrace/tcpstate"

// StateSet is a set of kernel TCP states (include/net/tcp_states.h), bit n
// for state n, as ss keeps it. UDP and raw sockets are ESTABLISHED when
// connected and CLOSE when not; unix sockets LISTEN, ESTABLISHED or CLOSE.
type StateSet uint32

// AllStates is ss's "all": bits 0 to 11, the unknown state 0 included.
const AllStates StateSet = 1<<12 - 1

// Has reports whether state is in the set.
func (s StateSet) Has(state tcpstate.State) bool { return state < 32 && s&(1<<state) != 0 }

func set(states ...tcpstate.State) StateSet {
	var s StateSet
	for _, st := range states {
		s |= 1 << st
	}
	return s
}

// stateNames are ss's names for one state; the groups follow in
// stateGroups. Both are matched without regard to case.
var stateNames = map[string]StateSet{
	"unknown":     set(0),
	"established": set(tcpstate.Established),
	"syn-sent":    set(tcpstate.SynSent),
	"syn-recv":    set(tcpstate.SynRecv),
	"syn-rcv":     set(tcpstate.SynRecv),
	"fin-wait-1":  set(tcpstate.FinWait1),
	"fin-wait-2":  set(tcpstate.FinWait2),
	"time-wait":   set(tcpstate.TimeWait),
	"unconnected": set(tcpstate.Close),
	"close":       set(tcpstate.Close),
	"closed":      set(tcpstate.Close),
	"close-wait":  set(tcpstate.CloseWait),
	"last-ack":    set(tcpstate.LastAck),
	"listening":   set(tcpstate.Listen),
	"closing":     set(tcpstate.Closing),
}

var stateGroups = map[string]StateSet{
	"all":          AllStates,
	"connected":    AllStates &^ set(tcpstate.Close, tcpstate.Listen),
	"synchronized": AllStates &^ set(tcpstate.Close, tcpstate.Listen, tcpstate.SynSent),
	"bucket":       set(tcpstate.SynRecv, tcpstate.TimeWait),
	"big":          AllStates &^ set(tcpstate.SynRecv, tcpstate.TimeWait),
}

// StateNames lists the words state and exclude take, for help texts.
const StateNames = "established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, closed, " +
	"close-wait, last-ack, listening, closing; groups: all, connected (all but listening and closed), " +
	"synchronized (connected but syn-sent), bucket (syn-recv, time-wait), big (all but bucket)"

func scanState(name string) (StateSet, bool) {
	name = asciiLower(name)
	if s, ok := stateNames[name]; ok {
		return s, true
	}
	s, ok := stateGroups[name]
	return s, ok
}

// parseStates reads the "state NAME" and "exclude NAME" words in front of
// the expression, as ss does: each word and each name a whole argument of
// its own. The first "state" starts from no state, the first "exclude"
// from all; later words add or remove. It returns the arguments left.
func (p *parser) parseStates(args []string) ([]string, error) {
	pos, seen := 0, false
	for len(args) > 0 {
		word := args[0]
		if word != "state" && word != "exclude" && word != "excl" {
			break
		}
		at := token{text: word, pos: pos, end: pos + len(word)}
		if len(args) == 1 {
			return nil, p.errorf(at, "%s needs a state after it: %s", word, StateNames)
		}
		name := args[1]
		namePos := pos + len(word) + 1
		s, ok := scanState(name)
		if !ok {
			return nil, p.errorf(token{text: name, pos: namePos, end: namePos + len(name)},
				"%s is not a state: want %s", quote(name), StateNames)
		}
		if !seen && word != "state" {
			p.states = AllStates
		}
		if word == "state" {
			p.states |= s
		} else {
			p.states &^= s
		}
		seen = true
		pos = namePos + len(name) + 1
		args = args[2:]
	}
	p.offset = pos
	return args, nil
}

// asciiLower folds A-Z only, as strcasecmp does in the C locale: a
// Unicode fold would take the Kelvin sign for a k.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
