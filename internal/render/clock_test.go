package render

import (
	"testing"
	"time"
)

// The cached prefixes must give what AppendFormat gives, also when events
// cross a second (or a day) and when they arrive slightly out of order.
func TestClockCacheMatchesAppendFormat(t *testing.T) {
	var c clockCache
	base := time.Date(2026, 12, 31, 23, 59, 58, 999_999_000, time.UTC)
	for _, d := range []time.Duration{0, 1, 999, 1000, time.Millisecond, 2 * time.Millisecond, -time.Second, 3 * time.Second, 0} {
		tm := base.Add(d)
		if got, want := string(c.appendJSON(nil, tm)), string(AppendJSONTime(nil, tm)); got != want {
			t.Errorf("json %v: %s, want %s", d, got, want)
		}
		if got, want := string(c.appendText(nil, tm)), tm.Format("15:04:05.000000"); got != want {
			t.Errorf("text %v: %s, want %s", d, got, want)
		}
	}
}

// Every JSON time is RFC 3339 in UTC with nine digits, trailing zeros
// kept, whatever the time's zone.
func TestJSONTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Date(2026, 11, 22, 12, 31, 30, 0, time.UTC), "2026-11-22T12:31:30.000000000Z"},
		{time.Date(2026, 11, 22, 12, 31, 30, 120_000_000, time.UTC), "2026-11-22T12:31:30.120000000Z"},
		{time.Date(2026, 11, 22, 13, 31, 30, 5, time.FixedZone("CET", 3600)), "2026-11-22T12:31:30.000000005Z"},
	} {
		if got := string(AppendJSONTime(nil, tc.t)); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.t, got, tc.want)
		}
		if _, err := time.Parse(time.RFC3339Nano, tc.want); err != nil {
			t.Errorf("%s is not RFC 3339: %v", tc.want, err)
		}
	}
}
