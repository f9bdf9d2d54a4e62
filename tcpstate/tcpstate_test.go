package tcpstate

import "testing"

func TestParse(t *testing.T) {
	for s := Established; s <= Closing; s++ {
		got, err := Parse(s.String())
		if err != nil || got != s {
			t.Errorf("Parse(%q) = %v, %v", s.String(), got, err)
		}
	}
	if got, _ := Parse("time_wait"); got != TimeWait {
		t.Errorf("lower case: %v", got)
	}
	if _, err := Parse("TIMEWAIT"); err == nil {
		t.Error("TIMEWAIT accepted")
	}
	if _, err := Parse(""); err == nil {
		t.Error("empty name accepted")
	}
}

func TestString(t *testing.T) {
	for s, want := range map[State]string{Established: "ESTABLISHED", TimeWait: "TIME_WAIT",
		Closing: "CLOSING", 0: "UNKNOWN", Closing + 1: "UNKNOWN"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", s, got, want)
		}
	}
}
