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
		if got, want := string(c.appendJSON(nil, tm)), tm.UTC().Format("2006-01-02T15:04:05.000000000Z"); got != want {
			t.Errorf("json %v: %s, want %s", d, got, want)
		}
		if got, want := string(c.appendText(nil, tm)), tm.Format("15:04:05.000000"); got != want {
			t.Errorf("text %v: %s, want %s", d, got, want)
		}
	}
}
